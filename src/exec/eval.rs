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
    /// `exec_record_done`: the finished file's full path, empty otherwise.
    pub path: String,
    /// Its last path component.
    pub filename: String,
    /// That without its extension (from the last `.`).
    pub basename: String,
    /// Its directory, without a trailing `/`.
    pub dirname: String,
    /// The `recorder` block's name, empty for the application's own recorder.
    pub recorder: String,
}

impl Vars {
    /// These values with those of a finished recording (`exec_record_done`): `path`, and
    /// `filename`, `basename`, `dirname` split from it as nginx-rtmp does.
    pub fn with_record_file(mut self, path: &str, recorder: &str) -> Vars {
        let (dirname, filename) = match path.rfind(['/', '\\']) {
            Some(i) => (path.get(..i), path.get(i + 1..)),
            None => (Some(""), Some(path)),
        };
        let filename = filename.unwrap_or_default();
        let basename = filename
            .rfind('.')
            .and_then(|i| filename.get(..i))
            .unwrap_or(filename);
        self.dirname = dirname.unwrap_or_default().to_owned();
        self.basename = basename.to_owned();
        self.filename = filename.to_owned();
        self.path = path.to_owned();
        self.recorder = recorder.to_owned();
        self
    }

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
            "path" => &self.path,
            "filename" => &self.filename,
            "basename" => &self.basename,
            "dirname" => &self.dirname,
            "recorder" => &self.recorder,
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
    eval_with(template, vars, |out, v| out.push_str(v))
}

/// The same for the file name of a redirection: a value (a client's flashVer, a name's
/// arguments) names at most one file, so its `/` become `_` and it cannot climb out of the
/// directory the operator wrote.
pub fn eval_in_path(template: &str, vars: &Vars) -> String {
    eval_with(template, vars, |out, v| {
        out.extend(v.chars().map(|c| if c == '/' { '_' } else { c }))
    })
}

fn eval_with(template: &str, vars: &Vars, put: impl Fn(&mut String, &str)) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut state = State::Normal;
    for (i, c) in template.char_indices() {
        if let State::BracedName(start) = state {
            if c == '}' {
                put(
                    &mut out,
                    vars.get(template.get(start..i).unwrap_or_default()),
                );
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
            put(
                &mut out,
                vars.get(template.get(start..i).unwrap_or_default()),
            );
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
        put(
            &mut out,
            vars.get(template.get(start..).unwrap_or_default()),
        );
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

    #[test]
    fn record_file_values_as_nginx_rtmp() {
        let v = vars().with_record_file("/var/rec/cam-1700000000.flv", "audio");
        assert_eq!(
            eval("$path|$filename|$basename|$dirname|$recorder|$name", &v),
            "/var/rec/cam-1700000000.flv|cam-1700000000.flv|cam-1700000000|/var/rec|audio|cam"
        );
        let v = vars().with_record_file("/x.y.mp4", "");
        assert_eq!(eval("$dirname|$basename|$recorder", &v), "|x.y|");
        let v = vars().with_record_file("noext", "r");
        assert_eq!(eval("$dirname|$filename|$basename", &v), "|noext|noext");
        // Without a recording these are empty.
        assert_eq!(eval("[$path$basename]", &vars()), "[]");
    }

    #[test]
    fn values_in_a_path_name_one_file() {
        let v = Vars {
            name: "cam".into(),
            args: "../../etc/x".into(),
            ..Vars::default()
        };
        assert_eq!(
            eval_in_path("/var/log/ff-$name-$args.log", &v),
            "/var/log/ff-cam-.._.._etc_x.log"
        );
        assert_eq!(eval("/tmp/$args", &v), "/tmp/../../etc/x");
    }
}
