// Package h1 is an HTTP/1.x server connection loop for the gateway's
// listeners. Server.ServeConn serves HTTP/1.1 and HTTP/1.0 on a connection
// whose TLS handshake the caller has finished, calling an ordinary
// http.Handler with a real *http.Request and an http.ResponseWriter that
// supports http.Flusher, http.Hijacker and http.ResponseController.
//
// Compared with net/http's server it is built for a keep-alive proxy:
//
//   - no per-request context and no background-read goroutine;
//   - request heads parsed into pooled objects: a request without a body
//     costs one allocation (the head as one string; every header key and
//     value is a substring of it);
//   - a response whose handler wrote at most 4 KiB before returning gets a
//     Content-Length and goes out in one write (status line, fields and
//     body in one buffer);
//   - no buffer is held while a connection is idle: the connection blocks
//     in a one-byte read into an array of its own; read and write buffers
//     come from pools when a request arrives and go back when it has been
//     answered;
//   - after IdleGrace (100ms) without a request, the wait moves to a fresh
//     goroutine, so an idle connection's stack is ~4 KiB, whatever the
//     handlers used before.
//
// # Parsing
//
// Requests are parsed strictly (RFC 9112). Whatever could be read in two
// ways is refused and the connection closed, so a request can never be
// framed differently here and at the next hop:
//
//   - lines end in CRLF (a bare LF or CR is 400); up to 4 empty lines
//     before a request line are skipped;
//   - request line: method a token, single spaces, HTTP/1.0 or HTTP/1.1
//     (505 for another well-formed version, 400 otherwise); the target is
//     visible ASCII without '#': origin-form, absolute-form (http or
//     https, a host, no userinfo; Host then comes from the target and the
//     Host header is ignored), authority-form host:port only for CONNECT
//     (and CONNECT only with it), "*" only for OPTIONS. Targets are parsed
//     like url.ParseRequestURI does. 414 beyond 8 KiB;
//   - fields: name a token directly followed by ':' (whitespace before the
//     colon is 400), no obs-fold, values without control characters (HTAB
//     and obs-text allowed), OWS trimmed; names are canonicalised like
//     textproto.CanonicalMIMEHeaderKey; 431 beyond MaxHeaderBytes or 512
//     fields;
//   - exactly one Host in HTTP/1.1 (missing or repeated is 400, also for
//     CONNECT), at most one in HTTP/1.0, valid per httpguts.ValidHostHeader;
//   - Content-Length is 1*DIGIT without overflow. Leading zeros are
//     accepted (as by net/http and the RFC grammar): the value is parsed
//     as a decimal number and proxies send their own Content-Length, so
//     they cannot be read differently downstream. Repeated Content-Length
//     fields must be byte-for-byte identical; lists ("5, 5"), signs and
//     spaces are 400;
//   - Transfer-Encoding must be a single field "chunked" (case-insensitive):
//     with Content-Length, in HTTP/1.0, repeated, with parameters, with
//     another coding after it or unknown it is 400; a well-formed list
//     ending in chunked with other codings ("gzip, chunked") is 501;
//   - chunked bodies: chunk-size of 1 to 16 hex digits, extensions that
//     follow the grammar (token[=token|quoted-string]) in a line of at
//     most 4 KiB, CRLF after each chunk's data, a trailer section parsed
//     like the header section and bounded by MaxHeaderBytes; the framing
//     overhead is bounded like net/http's. A malformed body makes Read
//     fail and the connection close after the response;
//   - Expect: only a lone "100-continue" (417 otherwise); "100 Continue"
//     is sent when the handler first reads the body.
//
// # What a handler sees, and how it differs from net/http
//
// The *http.Request has Method, URL, Proto*, Header (without Host and
// Transfer-Encoding, as net/http), Host, ContentLength (-1 for chunked),
// TransferEncoding, Close, Body (http.NoBody when there is none), Trailer
// (declared keys, filled when the body has been read), RemoteAddr,
// RequestURI, TLS (the connection's tls.ConnectionState) and a context
// from ConnContext. Differences:
//
//   - The request context is the connection's: it is cancelled when the
//     connection ends (context.Cause: ErrConnDone, the write error,
//     ErrClientGone, ErrServerClosed), not when ServeHTTP returns.
//   - The *http.Request, its URL, its Header map and the ResponseWriter are
//     reused for later requests: a handler must not keep them, or
//     goroutines using them, after it returns. Bodies are not reused: a
//     late reader gets http.ErrBodyReadAfterClose, never another
//     request's bytes. A ResponseWriter used after its handler returned can
//     only reach its own connection.
//   - No Content-Type sniffing: a response without Content-Type is sent
//     without one. (The gateway always sets it or passes the upstream's.)
//   - Client disconnects: there is no background reader. A failed write
//     cancels the context. For requests without a body, if the handler is
//     still running after DisconnectCheckDelay (50ms; the watch starts
//     within one to two delays), a one-byte read is started on a timer's
//     goroutine and EOF or an error there cancels the context; net/http
//     reads in the background during every request.
//     Like net/http, a client that half-closes after its request counts as
//     gone.
//   - http.ResponseController: Flush, SetReadDeadline, SetWriteDeadline,
//     Hijack and EnableFullDuplex work (full duplex needs nothing special
//     here: it only stops the server from reading the rest of the body
//     when the response starts). No http.CloseNotifier.
//   - "OPTIONS *" reaches the handler (net/http answers it itself).
//   - Trailer fields that may not be trailers (httpguts.ValidTrailerHeader:
//     Content-Length, Host, Authorization, ...) are dropped from
//     Request.Trailer and from response trailers, and the response's
//     Trailer field is rewritten to list only the names that remain.
//   - 1xx responses are not sent to HTTP/1.0 clients (RFC 9110 §15.2).
//   - A Transfer-Encoding set by the handler is ignored: framing is always
//     the server's. Control characters in response field values become
//     spaces (net/http only replaces CR and LF).
//   - Hijack after the handler returned returns an error (net/http
//     panics); the returned bufio.ReadWriter is new, with any bytes read
//     past the request already in its reader.
//   - The context carries http.LocalAddrContextKey but not
//     http.ServerContextKey. A nil Handler answers 404 instead of using
//     http.DefaultServeMux.
//   - ServeConn returns when the connection is handed to a fresh goroutine
//     after IdleGrace (ConnState still reports StateClosed at the end).
//
// Inputs net/http's server accepts and this package refuses: bare LF line
// endings, obs-fold, '#' or non-ASCII bytes in the target, non-http(s)
// absolute-form or userinfo, "*" with a method other than OPTIONS, CONNECT
// without host:port, HTTP/1.1 CONNECT without Host, Transfer-Encoding in
// HTTP/1.0 or together with Content-Length, HTTP/1.2+, Expect lists, chunk
// sizes followed by whitespace, more than 512 fields.
//
// # Responses
//
// The status line and the handler's fields are rendered when the status is
// decided (WriteHeader or the first Write), which snapshots the header
// like net/http; later changes only matter for trailers. A handler-set
// Content-Length is used (writing past it fails with
// http.ErrContentLength; writing less closes the connection); otherwise a
// response written completely before the handler returned and within
// 4 KiB gets a Content-Length, anything else is chunked (HTTP/1.1) or
// delimited by closing (HTTP/1.0). HEAD, 1xx, 204 and 304 responses have
// no body. Date is added unless the handler set (or nil-ed) it, formatted
// once per second. Trailers are declared with the "Trailer" field or set
// with http.TrailerPrefix, as in net/http. Informational responses
// (WriteHeader(100..199) other than 101) are sent at once with the current
// fields. Persistence follows net/http: Connection: close from either
// side, HTTP/1.0 without keep-alive, a handler panic, an unread body above
// 256 KiB, an Expect: 100-continue body that was not read, a short body,
// or Shutdown end the connection after the response.
//
// A handler panic is recovered: http.ErrAbortHandler closes the connection
// silently, anything else is logged with its stack first. The connection
// is then closed without a TLS close_notify, so a client cannot take a
// cut-off response for a complete one.
package h1
