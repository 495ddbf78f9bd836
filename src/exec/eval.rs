//! Variable substitution in `exec` arguments, as nginx-rtmp's `ngx_rtmp_eval`: `$name` (a run
//! of ASCII letters), `${name}`, `\` takes the next character literally; an unknown variable
//! is empty.

/// The values an `exec` line may refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    /// The stream name (after `publish_keys`: never the secret key).
    pub name: String,
    /// The query arguments of the publish or play name.
    pub args: String,
    pub app: String,
    /// The client's IP address.
    pub addr: String,
    pub flashver: String,
    pub swfurl: String,
    pub tcurl: String,
    pub pageurl: String,
}

impl Vars {
    fn get(&self, var: &str) -> &str {
        match var {
            "name" => &self.name,
            "args" => &self.args,
            "app" => &self.app,
            "addr" => &self.addr,
            "flashver" => &self.flashver,
            "swfurl" => &self.swfurl,
            "tcurl" => &self.tcurl,
            "pageurl" => &self.pageurl,
            _ => "",
        }
    }
}

enum State {
    Normal,
    Escape,
    /// After `$`: the variable's name starts at this byte offset.
    Name(usize),
    /// After `${`.
    BracedName(usize),
}

/// `template` with its variables replaced by their values in `vars`.
pub fn eval(template: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut state = State::Normal;
    for (i, c) in template.char_indices() {
        if let State::BracedName(start) = state {
            if c == '}' {
                out.push_str(vars.get(template.get(start..i).unwrap_or_default()));
                state = State::Normal;
            }
            continue;
        }
        if let State::Name(start) = state {
            if c == '{' && i == start {
                state = State::BracedName(i + 1);
                continue;
            }
            if c.is_ascii_alphabetic() {
                continue;
            }
            out.push_str(vars.get(template.get(start..i).unwrap_or_default()));
            state = State::Normal;
        }
        match state {
            State::Escape => {
                out.push(c);
                state = State::Normal;
            }
            _ if c == '$' => state = State::Name(i + 1),
            _ if c == '\\' => state = State::Escape,
            _ => out.push(c),
        }
    }
    if let State::Name(start) = state {
        out.push_str(vars.get(template.get(start..).unwrap_or_default()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            name: "cam".into(),
            args: "a=1&b=2".into(),
            app: "src".into(),
            addr: "127.0.0.1".into(),
            flashver: "FMLE/3.0".into(),
            ..Vars::default()
        }
    }

    #[test]
    fn substitutes_like_nginx_rtmp() {
        let v = vars();
        assert_eq!(eval("rtmp://h/hls/$name_low", &v), "rtmp://h/hls/cam_low");
        assert_eq!(eval("${app}x/${name}", &v), "srcx/cam");
        assert_eq!(eval("$app/$name?$args", &v), "src/cam?a=1&b=2");
        assert_eq!(eval("$addr $flashver", &v), "127.0.0.1 FMLE/3.0");
        assert_eq!(eval("$swfurl|$pageurl|$tcurl", &v), "||");
        assert_eq!(eval("$unknown-x", &v), "-x");
        assert_eq!(eval("$name$app", &v), "camsrc");
        assert_eq!(eval("end$", &v), "end");
    }

    #[test]
    fn escapes_and_unfinished_forms() {
        let v = vars();
        assert_eq!(eval("\\$name", &v), "$name");
        assert_eq!(eval("a\\\\b", &v), "a\\b");
        assert_eq!(eval("$name\\$", &v), "cam$");
        assert_eq!(eval("trailing\\", &v), "trailing");
        assert_eq!(eval("${name", &v), "");
        assert_eq!(eval("x$name{", &v), "xcam{");
        assert_eq!(eval("ünï$name", &v), "ünïcam");
        assert_eq!(eval("", &v), "");
    }
}
