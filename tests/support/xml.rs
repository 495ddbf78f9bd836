//! A small strict XML reader for the documents the module writes (MPDs): elements,
//! attributes (quoted, unique, with the five predefined entities), nesting checked, text
//! skipped. Enough to tell a well-formed document from a broken one and to walk it.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: BTreeMap<String, String>,
    pub children: Vec<Element>,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    /// Direct children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    pub fn first(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').ok_or("unterminated entity")? + i;
        out.push(match &rest[i + 1..end] {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e => return Err(format!("unknown entity &{e};")),
        });
        rest = &rest[end + 1..];
    }
    if rest.contains('<') {
        return Err("'<' in attribute value".into());
    }
    out.push_str(rest);
    Ok(out)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.')
}

/// Parses a whole document: an optional `<?xml ...?>` declaration and one root element.
pub fn parse(doc: &str) -> Result<Element, String> {
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut rest = doc.trim_start();
    if let Some(r) = rest.strip_prefix("<?xml") {
        let end = r.find("?>").ok_or("unterminated declaration")?;
        rest = &r[end + 2..];
    }
    loop {
        let lt = match rest.find('<') {
            Some(i) => i,
            None => {
                if !rest.trim().is_empty() && stack.is_empty() {
                    return Err("text after the root element".into());
                }
                break;
            }
        };
        let text = &rest[..lt];
        if stack.is_empty() && !text.trim().is_empty() {
            return Err(format!("text outside the root: {text:?}"));
        }
        rest = &rest[lt + 1..];
        if let Some(r) = rest.strip_prefix('/') {
            let end = r.find('>').ok_or("unterminated end tag")?;
            let name = r[..end].trim();
            let el = stack.pop().ok_or(format!("</{name}> without start"))?;
            if el.name != name {
                return Err(format!("</{name}> closes <{}>", el.name));
            }
            rest = &r[end + 1..];
            match stack.last_mut() {
                Some(parent) => parent.children.push(el),
                None if root.is_none() => root = Some(el),
                None => return Err("two root elements".into()),
            }
            continue;
        }
        if rest.starts_with("!--") {
            let end = rest.find("-->").ok_or("unterminated comment")?;
            rest = &rest[end + 3..];
            continue;
        }
        let name_len = rest.find(|c| !is_name_char(c)).ok_or("unterminated tag")?;
        if name_len == 0 {
            return Err(format!("bad tag at {:?}", &rest[..rest.len().min(20)]));
        }
        let mut el = Element {
            name: rest[..name_len].to_owned(),
            attrs: BTreeMap::new(),
            children: Vec::new(),
        };
        rest = &rest[name_len..];
        let self_closing = loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix("/>") {
                rest = r;
                break true;
            }
            if let Some(r) = rest.strip_prefix('>') {
                rest = r;
                break false;
            }
            let n = rest.find(|c| !is_name_char(c)).ok_or("unterminated tag")?;
            if n == 0 {
                return Err(format!("bad attribute in <{}>", el.name));
            }
            let key = rest[..n].to_owned();
            let r = rest[n..]
                .trim_start()
                .strip_prefix('=')
                .ok_or("attribute without =")?;
            let r = r
                .trim_start()
                .strip_prefix('"')
                .ok_or("unquoted attribute")?;
            let end = r.find('"').ok_or("unterminated attribute")?;
            let value = unescape(&r[..end])?;
            if el.attrs.insert(key.clone(), value).is_some() {
                return Err(format!("duplicate attribute {key} in <{}>", el.name));
            }
            rest = &r[end + 1..];
        };
        if self_closing {
            match stack.last_mut() {
                Some(parent) => parent.children.push(el),
                None if root.is_none() => root = Some(el),
                None => return Err("two root elements".into()),
            }
        } else {
            if stack.is_empty() && root.is_some() {
                return Err("two root elements".into());
            }
            stack.push(el);
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("<{}> not closed", open.name));
    }
    root.ok_or_else(|| "no root element".into())
}
