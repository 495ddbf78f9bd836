//! Which renditions run for a source, and at what size: no upscaling (a rendition at or above
//! the source's height, or width when only a width is given, is skipped), the source's aspect
//! ratio kept when one dimension is given, and even dimensions (4:2:0 chroma needs them).

use super::rendition::Rendition;

/// A rendition that runs, with its output size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub rendition: Rendition,
    pub width: u32,
    pub height: u32,
}

/// A configured size made even (down: never above what the operator asked), at least 2.
fn even(v: u32) -> u32 {
    (v & !1).max(2)
}

/// `a * b / c` to the nearest even number, at least 2.
fn scaled(a: u32, b: u32, c: u32) -> u32 {
    let two_c = 2 * u64::from(c.max(1));
    let halves = (u64::from(a) * u64::from(b) + two_c / 2) / two_c;
    u32::try_from(halves * 2).unwrap_or(u32::MAX - 1).max(2)
}

/// The renditions to run for a source of `width` x `height` pixels, in configuration order.
pub fn plan(renditions: &[Rendition], width: u32, height: u32) -> Vec<Planned> {
    if width == 0 || height == 0 {
        return Vec::new();
    }
    renditions
        .iter()
        .filter_map(|r| {
            let (w, h) = match (r.width, r.height) {
                (_, Some(h)) if h >= height => return None,
                (Some(w), None) if w >= width => return None,
                (Some(w), Some(h)) => (even(w), even(h)),
                (None, Some(h)) => {
                    let h = even(h);
                    (scaled(width, h, height), h)
                }
                (Some(w), None) => {
                    let w = even(w);
                    (w, scaled(height, w, width))
                }
                (None, None) => return None,
            };
            Some(Planned {
                rendition: r.clone(),
                width: w,
                height: h,
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn r(args: &[&str]) -> Rendition {
        Rendition::parse(args).unwrap()
    }

    #[test]
    fn skips_upscaling_and_keeps_aspect() {
        let ladder = [
            r(&["720p", "height=720"]),
            r(&["480p", "height=480"]),
            r(&["360p", "height=360"]),
        ];
        let p = plan(&ladder, 1280, 720);
        let sizes: Vec<_> = p
            .iter()
            .map(|p| (p.rendition.name.as_str(), p.width, p.height))
            .collect();
        assert_eq!(sizes, [("480p", 854, 480), ("360p", 640, 360)]);
        // A 540p source skips 720p only.
        let p = plan(&ladder, 960, 540);
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].width, p[0].height), (854, 480));
        // Odd sources and odd heights give even sizes.
        let p = plan(&[r(&["odd", "height=241"])], 1001, 563);
        assert_eq!((p[0].width, p[0].height), (426, 240));
        assert!(plan(&ladder, 0, 0).is_empty());
    }

    #[test]
    fn width_only_and_both() {
        let p = plan(&[r(&["w", "width=640"])], 1920, 1080);
        assert_eq!((p[0].width, p[0].height), (640, 360));
        assert!(plan(&[r(&["w", "width=1920"])], 1920, 1080).is_empty());
        let p = plan(&[r(&["b", "width=301", "height=200"])], 1920, 1080);
        assert_eq!((p[0].width, p[0].height), (300, 200));
    }
}
