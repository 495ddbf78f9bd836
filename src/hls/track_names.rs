//! The names of a multitrack stream's renditions: video track `N` of stream `cam` is the HLS
//! stream `cam_tN`. A name that reads as one (`cam_t1`) is reserved while `cam` publishes.

/// The name of the rendition of video track `id` of stream `name`.
pub fn track_stream_name(name: &str, id: u8) -> String {
    format!("{name}_t{id}")
}

/// The stream that `name` would be a track rendition of (`cam` for `cam_t1`): the inverse of
/// [`track_stream_name`].
pub fn rendition_base(name: &str) -> Option<&str> {
    let (base, id) = name.rsplit_once("_t")?;
    let n: u8 = id.parse().ok()?;
    (!base.is_empty() && n.to_string() == id).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_of_every_rendition_name_and_of_nothing_else() {
        for (name, id) in [("cam", 0), ("cam", 255), ("a_t1", 7), ("x", 10)] {
            assert_eq!(rendition_base(&track_stream_name(name, id)), Some(name));
        }
        for other in [
            "cam", "cam_t", "_t1", "cam_t256", "cam_t01", "cam_t+1", "cam_t1x", "cam_x1",
        ] {
            assert_eq!(rendition_base(other), None, "{other}");
        }
    }
}
