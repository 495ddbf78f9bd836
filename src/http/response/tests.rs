use super::*;

fn keep(max: usize) -> Limits {
    Limits {
        body: BodyMode::Keep { max },
        ..Limits::default()
    }
}

/// Feeds `parts` in order, then signals the end of the stream if still incomplete.
fn parse_parts(limits: Limits, parts: &[&[u8]]) -> Result<Response, ParseError> {
    let mut p = ResponseParser::new(limits);
    for part in parts {
        if let Status::Complete(r) = p.feed(part)? {
            return Ok(r);
        }
    }
    p.eof()
}

fn parse(limits: Limits, data: &[u8]) -> Result<Response, ParseError> {
    parse_parts(limits, &[data])
}

fn skip(data: &[u8]) -> Result<Response, ParseError> {
    parse(Limits::default(), data)
}

/// Responses of every shape, parsed whole and split at every byte boundary (in two, in three
/// around each boundary, and one byte at a time): the results must all agree.
#[test]
fn every_split_gives_the_same_result() {
    let cases: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 302 Found\r\nlocation: public-name\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
          HTTP/1.1 301 Moved\r\nLocation: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
          4\r\nWiki\r\n5;ext=\"1\"\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the end",
        b"HTTP/1.1 404 Not Found\nContent-Length: 3\n\nabc",
        b"HTTP/1.1 500\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nBad Header: x\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWikiXX\r\n0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n",
    ];
    for limits in [Limits::default(), keep(1024)] {
        for data in cases {
            let whole = parse(limits, data);
            let ctx = String::from_utf8_lossy(data);
            for i in 0..=data.len() {
                let (a, b) = data.split_at(i);
                assert_eq!(parse_parts(limits, &[a, b]), whole, "split at {i}: {ctx}");
                if i > 0 && i < data.len() {
                    let (a, rest) = data.split_at(i - 1);
                    let (b, c) = rest.split_at(1);
                    assert_eq!(parse_parts(limits, &[a, b, c]), whole, "{i}: {ctx}");
                }
            }
            let bytes: Vec<&[u8]> = data.chunks(1).collect();
            assert_eq!(parse_parts(limits, &bytes), whole, "bytewise: {ctx}");
        }
    }
    // And the expected results of some of them.
    let r = parse(keep(1024), cases[3]).unwrap();
    assert_eq!(r.body, b"Wikipedia in\r\n\r\nchunks.");
    assert_eq!(
        parse(keep(1024), cases[2]).unwrap().outcome(),
        Outcome::Redirect("x".into())
    );
    assert_eq!(parse(keep(1024), cases[4]).unwrap().body, b"until the end");
    assert_eq!(parse(keep(1024), cases[7]), Err(ParseError::BadHeader));
    assert_eq!(parse(keep(1024), cases[8]), Err(ParseError::BadChunk));
    assert_eq!(parse(keep(1024), cases[10]), Err(ParseError::Truncated));
    assert_eq!(skip(cases[10]).unwrap().status, 200);
    assert_eq!(skip(cases[11]), Err(ParseError::BadStatusLine));
    assert_eq!(skip(cases[12]), Err(ParseError::Truncated));
}

#[test]
fn status_and_outcome() {
    let r = skip(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
    assert_eq!(
        r,
        Response {
            version: Version::Http11,
            status: 200,
            location: None,
            body: vec![]
        }
    );
    assert_eq!(r.outcome(), Outcome::Continue);
    let outcome = |s: &[u8]| skip(s).unwrap().outcome();
    assert_eq!(
        outcome(b"HTTP/1.1 204 No Content\r\n\r\n"),
        Outcome::Continue
    );
    assert_eq!(outcome(b"HTTP/1.1 299 x\r\n\r\n"), Outcome::Continue);
    assert_eq!(
        outcome(b"HTTP/1.1 302 Found\r\nLOCATION:  new-name \r\n\r\n"),
        Outcome::Redirect("new-name".into())
    );
    assert_eq!(
        outcome(b"HTTP/1.1 307 x\r\nLocation: rtmp://other/live/s\r\n\r\n"),
        Outcome::Redirect("rtmp://other/live/s".into())
    );
    // A redirect without a target refuses (nginx-rtmp would go on unchanged; we do not
    // guess).
    assert_eq!(
        outcome(b"HTTP/1.1 302 Found\r\n\r\n"),
        Outcome::Refused(302)
    );
    assert_eq!(
        outcome(b"HTTP/1.1 301 x\r\nLocation:\r\n\r\n"),
        Outcome::Refused(301)
    );
    assert_eq!(
        outcome(b"HTTP/1.1 301 x\r\nLocation: \t \r\n\r\n"),
        Outcome::Refused(301)
    );
    // Location means nothing outside 3xx.
    assert_eq!(
        outcome(b"HTTP/1.1 403 Forbidden\r\nLocation: x\r\n\r\n"),
        Outcome::Refused(403)
    );
    assert_eq!(outcome(b"HTTP/1.1 500 Oops\r\n\r\n"), Outcome::Refused(500));
    assert_eq!(outcome(b"HTTP/1.1 600 ?\r\n\r\n"), Outcome::Refused(600));
    // 101 is final (nothing asked to switch protocols).
    assert_eq!(
        outcome(b"HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\n"),
        Outcome::Refused(101)
    );
    // No reason phrase, a tab in it, an empty one.
    assert_eq!(skip(b"HTTP/1.1 200\r\n\r\n").unwrap().status, 200);
    assert_eq!(skip(b"HTTP/1.1 200 \r\n\r\n").unwrap().status, 200);
    assert_eq!(skip(b"HTTP/1.1 200 O\tK\r\n\r\n").unwrap().status, 200);
}

#[test]
fn interim_responses_are_skipped() {
    let r = skip(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n").unwrap();
    assert_eq!(r.status, 200);
    // Headers of an interim response do not leak into the final one.
    let r = skip(
        b"HTTP/1.1 103 Early Hints\r\nLocation: early\r\n\r\n\
          HTTP/1.1 302 Found\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.outcome(), Outcome::Refused(302));
    // Many interim responses still count against the header limit.
    let mut endless = Vec::new();
    while endless.len() < 20_000 {
        endless.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    assert_eq!(skip(&endless), Err(ParseError::HeadersTooLarge));
    // An interim response alone is truncated.
    assert_eq!(
        skip(b"HTTP/1.1 100 Continue\r\n\r\n"),
        Err(ParseError::Truncated)
    );
}

#[test]
fn http10() {
    let r = skip(b"HTTP/1.0 302 Found\r\nLocation: n\r\n\r\n").unwrap();
    assert_eq!(r.version, Version::Http10);
    assert_eq!(r.outcome(), Outcome::Redirect("n".into()));
    // Without a length, the body runs until the connection closes.
    let mut p = ResponseParser::new(keep(100));
    assert_eq!(p.feed(b"HTTP/1.0 200 OK\r\n\r\nab"), Ok(Status::Incomplete));
    assert_eq!(p.feed(b"cd"), Ok(Status::Incomplete));
    let r = p.eof().unwrap();
    assert_eq!((r.version, r.body), (Version::Http10, b"abcd".to_vec()));
    // Later calls give the same answer.
    assert_eq!(p.eof().unwrap().status, 200);
    assert_eq!(p.feed(b"more").unwrap(), Status::Complete(p.eof().unwrap()));
}

#[test]
fn bodies() {
    // Content-Length, with a repeated identical value.
    let r = parse(
        keep(10),
        b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\ncontent-length: 3\r\n\r\nabcdef",
    )
    .unwrap();
    assert_eq!(r.body, b"abc", "bytes after the body are ignored");
    for bad in [
        &b"Content-Length: 3, 4"[..],
        b"Content-Length: -1",
        b"Content-Length: 1e3",
        b"Content-Length:",
        b"Content-Length: 99999999999999999999999",
    ] {
        let mut data = b"HTTP/1.1 200 OK\r\n".to_vec();
        data.extend_from_slice(bad);
        data.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            parse(keep(10), &data),
            Err(ParseError::BadContentLength),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(
        parse(
            keep(10),
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"
        ),
        Err(ParseError::BadContentLength)
    );
    // Limits: a declared length over the limit fails at once, a body until close as soon as
    // it passes the limit, chunks as soon as their sizes do.
    let mut p = ResponseParser::new(keep(10));
    assert_eq!(
        p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"),
        Err(ParseError::BodyTooLarge)
    );
    let mut p = ResponseParser::new(keep(10));
    assert_eq!(
        p.feed(b"HTTP/1.1 200 OK\r\n\r\n0123456789"),
        Ok(Status::Incomplete)
    );
    assert_eq!(p.feed(b"x"), Err(ParseError::BodyTooLarge));
    assert_eq!(
        parse(
            keep(10),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n6\r\n"
        ),
        Err(ParseError::BodyTooLarge)
    );
    // 204 and 304 have no body whatever their headers say.
    let r = parse(
        keep(10),
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 304);
    // Transfer-Encoding wins over Content-Length; a last coding other than chunked runs
    // until close.
    let r = parse(
        keep(100),
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
          1\r\na\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.body, b"a");
    let r = parse(
        keep(100),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n1\r\na\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.body, b"1\r\na\r\n0\r\n\r\n");
    // Content-Length 0.
    let r = parse(keep(0), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert!(r.body.is_empty());
}

#[test]
fn chunked() {
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n".to_vec();
    let ok = |chunks: &[u8]| {
        let mut data = head.clone();
        data.extend_from_slice(chunks);
        parse(keep(1000), &data)
    };
    assert_eq!(ok(b"0\r\n\r\n").unwrap().body, b"");
    assert_eq!(ok(b"3 ; a=b\r\nabc\r\n0\r\n\r\n").unwrap().body, b"abc");
    assert_eq!(ok(b"A\n0123456789\n0\n\n").unwrap().body, b"0123456789");
    assert_eq!(ok(b"a\r\n0123456789\r\n0\r\n\r\n").unwrap().body.len(), 10);
    for bad in [
        &b"\r\n"[..],
        b"x\r\n",
        b"-1\r\n",
        b";\r\n",
        b"3\r\nabcX\r\n",
        b"1234567890123456\r\n",
        b"3\r\nabc\r\n\r\n",
    ] {
        assert_eq!(
            ok(bad),
            Err(ParseError::BadChunk),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // A chunk-size line without an end is bounded.
    let mut long = b"1".to_vec();
    long.extend(std::iter::repeat_n(b';', 2000));
    assert_eq!(ok(&long), Err(ParseError::BadChunk));
    // Cut short: truncated.
    assert_eq!(ok(b"3\r\nab"), Err(ParseError::Truncated));
    assert_eq!(ok(b"0\r\nTrailer: x\r\n"), Err(ParseError::Truncated));
    // Trailers count against the header limit.
    let mut trailers = b"0\r\n".to_vec();
    while trailers.len() < 20_000 {
        trailers.extend_from_slice(b"X-Trailer: 0123456789\r\n");
    }
    assert_eq!(ok(&trailers), Err(ParseError::HeadersTooLarge));
    // With the body skipped, a chunked answer is complete at its header block.
    assert_eq!(skip(&head).unwrap().status, 200);
}

#[test]
fn skipped_body_costs_nothing() {
    let mut p = ResponseParser::default();
    let r = match p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\nxx") {
        Ok(Status::Complete(r)) => r,
        other => panic!("{other:?}"),
    };
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..100 {
        assert_eq!(p.feed(&chunk), Ok(Status::Complete(r.clone())));
    }
    assert!(p.line.capacity() < 1024 && p.body.capacity() == 0);
}

#[test]
fn header_limits() {
    // One huge header.
    let mut data = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    data.extend(std::iter::repeat_n(b'a', 17 * 1024));
    data.extend_from_slice(b"\r\n\r\n");
    assert_eq!(skip(&data), Err(ParseError::HeadersTooLarge));
    // A header line that never ends: fails once past the limit, the buffer stays bounded.
    let mut p = ResponseParser::default();
    assert_eq!(
        p.feed(b"HTTP/1.1 200 OK\r\nX-Big: "),
        Ok(Status::Incomplete)
    );
    let chunk = vec![b'a'; 1000];
    let mut fed = 0;
    let err = loop {
        match p.feed(&chunk) {
            Ok(Status::Incomplete) => fed += chunk.len(),
            Ok(Status::Complete(_)) => panic!("complete"),
            Err(e) => break e,
        }
        assert!(p.line.len() <= 16 * 1024);
    };
    assert_eq!(err, ParseError::HeadersTooLarge);
    assert!(fed < 16 * 1024);
    // Exactly at the limit passes, one byte more fails.
    let limits = Limits {
        max_header_bytes: 40,
        ..Limits::default()
    };
    let exact = b"HTTP/1.1 200 OK\r\nX: 0123456789abcdef\r\n\r\n";
    assert_eq!(exact.len(), 40);
    assert_eq!(parse(limits, exact).unwrap().status, 200);
    let over = b"HTTP/1.1 200 OK\r\nX: 0123456789abcdefg\r\n\r\n";
    assert_eq!(parse(limits, over), Err(ParseError::HeadersTooLarge));
    // Too many headers.
    let mut data = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..101 {
        data.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    data.extend_from_slice(b"\r\n");
    assert_eq!(skip(&data), Err(ParseError::TooManyHeaders));
    let limits = Limits {
        max_headers: 200,
        ..Limits::default()
    };
    assert_eq!(parse(limits, &data).unwrap().status, 200);
}

#[test]
fn garbage() {
    for bad in [
        &b"<html>hello</html>\r\n"[..],
        b"\r\nHTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.2 200 OK\r\n\r\n",
        b"http/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 099 x\r\n\r\n",
        b"HTTP/1.1  200 OK\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 O\x01K\r\n\r\n",
        b"HTTP/1.1 200 OK\r\r\n\r\n",
        b"HTTP/1.1\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
    ] {
        assert_eq!(
            skip(bad),
            Err(ParseError::BadStatusLine),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // Garbage fails before any line end arrives.
    let mut p = ResponseParser::default();
    assert_eq!(p.feed(b"HTTP/"), Ok(Status::Incomplete));
    assert_eq!(p.feed(b"2"), Err(ParseError::BadStatusLine));
    assert_eq!(
        p.feed(b"HTTP/1.1 200 OK\r\n\r\n"),
        Err(ParseError::BadStatusLine)
    );
    assert_eq!(
        ResponseParser::default().feed(b"\x16\x03\x01\x02\x00"),
        Err(ParseError::BadStatusLine)
    );

    for bad in [
        &b"No-Colon"[..],
        b": no name",
        b"Space Name: x",
        b"Name : x",
        b" folded: x",
        b"\tfolded",
        b"X: a\x00b",
        b"X: a\rb",
        b"X: \x7f",
        b"Location: a\r\nLocation: b",
        b"Location: \xff",
        b"X\x80: y",
    ] {
        let mut data = b"HTTP/1.1 302 Found\r\nA: b\r\n".to_vec();
        data.extend_from_slice(bad);
        data.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            skip(&data),
            Err(ParseError::BadHeader),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    // Non-ASCII (obs-text) in other header values is accepted and ignored.
    assert_eq!(
        skip(b"HTTP/1.1 200 OK\r\nServer: caf\xe9\r\n\r\n")
            .unwrap()
            .status,
        200
    );
    // Header names are matched in any case; values keep their case.
    assert_eq!(
        skip(b"HTTP/1.1 302 Found\r\nlOcAtIoN: Name\r\n\r\n")
            .unwrap()
            .location
            .as_deref(),
        Some("Name")
    );
}

#[test]
fn truncated_and_empty() {
    assert_eq!(skip(b""), Err(ParseError::Truncated));
    assert_eq!(skip(b"HTTP/1.1 200 OK"), Err(ParseError::Truncated));
    assert_eq!(
        skip(b"HTTP/1.1 200 OK\r\nLocation: x\r\n"),
        Err(ParseError::Truncated)
    );
    // An error sticks.
    let mut p = ResponseParser::default();
    assert_eq!(p.eof(), Err(ParseError::Truncated));
    assert_eq!(
        p.feed(b"HTTP/1.1 200 OK\r\n\r\n"),
        Err(ParseError::Truncated)
    );
}

/// Random bytes and random mutations of valid answers never panic, and memory stays bounded.
#[test]
fn random_input_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nLocation: x\r\n\
        Content-Length: 4\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
    for round in 0..3000 {
        let mut data = if round % 2 == 0 {
            valid.to_vec()
        } else {
            (0..(next() % 200)).map(|_| next() as u8).collect()
        };
        for _ in 0..(next() % 4) {
            if data.is_empty() {
                break;
            }
            let i = (next() as usize) % data.len();
            data[i] = next() as u8;
        }
        for limits in [Limits::default(), keep(16)] {
            let mut p = ResponseParser::new(limits);
            for part in data.chunks(1 + (next() as usize) % 7) {
                if p.feed(part).is_err() {
                    break;
                }
                assert!(p.line.len() <= limits.max_header_bytes && p.body.len() <= 16);
            }
            let _ = p.eof();
        }
    }
}
