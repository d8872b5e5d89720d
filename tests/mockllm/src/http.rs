//! Just enough HTTP/1.1 for the four CLIs' clients: keep-alive connections, request bodies by
//! `Content-Length` or chunked, `Expect: 100-continue`; answers with a fixed-length body or as
//! server-sent events over chunked transfer encoding, one chunk per event.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// A request as read off the wire.
pub struct Request {
    pub method: String,
    /// The request target as sent, query included.
    pub target: String,
    /// Header names lower-cased, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// What to send back.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

pub enum Body {
    /// `application/json`, with a `Content-Length`.
    Json(serde_json::Value),
    /// `text/event-stream`: `(event name, data line)` pairs, each sent as its own chunk.
    Events(Vec<(Option<String>, String)>),
}

impl Response {
    pub fn json(status: u16, value: serde_json::Value) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Json(value),
        }
    }

    pub fn events(events: Vec<(Option<String>, String)>) -> Response {
        Response {
            status: 200,
            headers: Vec::new(),
            body: Body::Events(events),
        }
    }
}

/// A client connection: reads requests, writes responses, until either side closes it.
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    pub fn new(stream: TcpStream) -> io::Result<Connection> {
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        Ok(Connection {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Serves requests with `handle` until the client closes the connection or asks to.
    pub fn serve(mut self, mut handle: impl FnMut(&Request) -> Response) -> io::Result<()> {
        while let Some(request) = self.read_request()? {
            let response = handle(&request);
            self.write(&request, &response)?;
            if request.wants_close() {
                break;
            }
        }
        Ok(())
    }

    /// The next request, or `None` when the client closed the connection between requests.
    fn read_request(&mut self) -> io::Result<Option<Request>> {
        let mut line = String::new();
        // Tolerate blank lines between requests (RFC 9112 §2.2).
        while line.trim().is_empty() {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Ok(None);
            }
        }
        let mut words = line.split_whitespace();
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            return Err(bad(format!("bad request line {line:?}")));
        };
        let (method, target) = (method.to_string(), target.to_string());
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(bad("connection closed inside the headers".into()));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l
                .split_once(':')
                .ok_or_else(|| bad(format!("bad header {l:?}")))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let mut request = Request {
            method,
            target,
            headers,
            body: Vec::new(),
        };
        if request
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            self.writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let chunked = request
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        request.body = if chunked {
            self.read_chunked()?
        } else {
            let len = match request.header("content-length") {
                Some(v) => v
                    .parse::<usize>()
                    .map_err(|_| bad(format!("bad Content-Length {v:?}")))?,
                None => 0,
            };
            let mut body = vec![0; len];
            self.reader.read_exact(&mut body)?;
            body
        };
        Ok(Some(request))
    }

    fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let size = line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size, 16)
                .map_err(|_| bad(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers, up to the blank line.
                loop {
                    line.clear();
                    if self.reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size, 0);
            self.reader.read_exact(&mut body[start..])?;
            line.clear();
            self.reader.read_line(&mut line)?; // the CRLF after the chunk
        }
    }

    fn write(&mut self, request: &Request, response: &Response) -> io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            response.status,
            reason(response.status)
        );
        for (k, v) in &response.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if request.wants_close() {
            head.push_str("Connection: close\r\n");
        }
        match &response.body {
            Body::Json(value) => {
                let data = value.to_string();
                head.push_str(&format!(
                    "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    data.len()
                ));
                if request.method == "HEAD" {
                    self.writer.write_all(head.as_bytes())
                } else {
                    self.writer.write_all((head + &data).as_bytes())
                }
            }
            Body::Events(events) => {
                head.push_str(
                    "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                     Transfer-Encoding: chunked\r\n\r\n",
                );
                self.writer.write_all(head.as_bytes())?;
                for (name, data) in events {
                    let mut event = String::new();
                    if let Some(name) = name {
                        event.push_str(&format!("event: {name}\n"));
                    }
                    event.push_str(&format!("data: {data}\n\n"));
                    let chunk = format!("{:x}\r\n{event}\r\n", event.len());
                    self.writer.write_all(chunk.as_bytes())?;
                }
                self.writer.write_all(b"0\r\n\r\n")
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    }
}

fn bad(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
