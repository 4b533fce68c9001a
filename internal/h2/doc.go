// Package h2 is an HTTP/2 server connection loop for the gateway's TLS
// listeners, the HTTP/2 counterpart of package h1. Server.ServeConn
// serves HTTP/2 (RFC 9113) on a connection whose TLS handshake the caller
// has finished and which negotiated "h2", calling an ordinary
// http.Handler with a real *http.Request and an http.ResponseWriter that
// supports http.Flusher and http.ResponseController. Server is configured
// like h1.Server, so both are built from the same settings.
//
// Compared with net/http's HTTP/2 server it is built for a keep-alive
// proxy with few streams per connection:
//
//   - frames are read and processed on the connection goroutine itself:
//     no reader goroutine, no serve loop fed by channels, no write
//     scheduler goroutine;
//   - handlers (one goroutine per stream, so the connection keeps
//     handling WINDOW_UPDATE, RST_STREAM, PING and new streams while a
//     handler waits on an upstream) write their frames themselves, under
//     a per-connection write lock, into a pooled bufio.Writer that the
//     connection holds only while it has something to write. HPACK
//     encoding happens under the same lock, so its state follows the
//     order of frames on the wire. A writer that finds others waiting for
//     the lock leaves the flush to them (concurrent streams share
//     flushes);
//   - a response whose handler wrote at most 8 KiB before returning gets
//     a content-length, and its HEADERS and DATA (END_STREAM) go out in
//     one locked section and one write;
//   - streams (with their header maps, URL and ResponseWriter) are reused
//     by their connection once closed and their handler returned; request
//     fields with common names cost no allocation. A small GET costs
//     about 6 allocations (the *http.Request, which must be fresh to
//     carry its context; the context; HPACK literals; the HEADERS frame),
//     net/http's about 40;
//   - DATA payloads are read straight into pooled buffers: an idle
//     connection holds no frame-sized buffer of ours.
//
// Header blocks are decoded by this package (the Framer reads the frames
// and checks that CONTINUATION frames follow their HEADERS), field by
// field into the request, so that a header block can be bounded as it
// arrives: by size, by number of CONTINUATION frames and by encoded
// bytes.
//
// # What a handler sees, and how it differs from net/http
//
// The *http.Request has Method, URL (from :path; for CONNECT from
// :authority), Proto "HTTP/2.0", ProtoMajor 2, Header (regular fields,
// canonicalised, without Host; cookie crumbs joined with "; " as RFC 9113
// §8.2.3 asks; a "trailer" field becomes Request.Trailer's keys), Host
// (:authority, else the host field), ContentLength (content-length; 0
// when the HEADERS ended the stream; -1 when unknown and a body may
// follow), Body (http.NoBody when the HEADERS ended the stream), Trailer
// (declared keys; filled with the trailer section once the body has
// returned io.EOF; fields that may not be trailers are dropped, as by h1),
// RemoteAddr, RequestURI, TLS (the connection's state, taken once) and a
// context derived from ConnContext's that is cancelled (context.Cause)
// with ErrStreamReset when the stream is reset, with the connection's
// cause when the connection ends (ErrConnDone, ErrClientGone,
// ErrServerClosed), and with ErrHandlerDone when the handler returns.
//
// Differences from net/http:
//
//   - The request's Header map, its URL and the ResponseWriter are reused
//     by later streams of the connection: a handler must not keep them,
//     or goroutines using them, after it returns. Bodies are not reused:
//     a late reader gets http.ErrBodyReadAfterClose. A ResponseWriter used
//     after its handler returned fails (and could only ever reach its own
//     connection).
//   - No Content-Type sniffing (like h1). A nil Handler answers 404
//     instead of using http.DefaultServeMux. The context carries
//     http.LocalAddrContextKey but not http.ServerContextKey.
//   - http.ResponseController: Flush, SetWriteDeadline (the stream's
//     write deadline, see Server.WriteTimeout), SetReadDeadline (the
//     request body's, see Server.ReadTimeout) and EnableFullDuplex (a
//     no-op: streams are always full duplex) work; Hijack does not exist
//     in HTTP/2 (http.ErrNotSupported).
//   - Request bodies are never read by the server on the handler's
//     behalf. When a handler returns while the client is still sending,
//     the stream is reset with NO_ERROR after the response (RFC 9113
//     §8.1); the body's buffered bytes go back to the connection window.
//   - "Expect: 100-continue" gets "100 Continue" at the first body Read
//     (unless the response started); any other Expect value is answered
//     417 without calling the handler, like h1.
//   - We never push and never advertise extended CONNECT.
//
// # Responses
//
// The status and the handler's fields are snapshotted when the status is
// decided (WriteHeader or the first Write), as by net/http; later header
// changes only matter for trailers. Field names are sent in lowercase;
// connection-specific fields (Connection, Keep-Alive, Proxy-Connection,
// Transfer-Encoding, Upgrade) and invalid names are dropped, control
// characters in values become spaces. A handler-set Content-Length is
// sent and enforced (writing past it fails with http.ErrContentLength;
// returning short resets the stream with INTERNAL_ERROR so the client
// cannot take the body for complete); otherwise a response written
// completely before the handler returned and within 8 KiB gets one. HEAD,
// 1xx, 204 and 304 responses have no body. Date is added unless the
// handler set (or nil-ed) it, formatted once per second, as by h1.
// Informational responses (WriteHeader(100..199)) are sent at once as
// HEADERS with the current fields; WriteHeader(101) is refused (logged
// and ignored). Trailers are declared with the "Trailer" field or set
// with http.TrailerPrefix and go out as a final HEADERS frame with
// END_STREAM; the "trailer" field sent lists only the declared names that
// may be trailers.
//
// A handler panic is recovered: http.ErrAbortHandler resets the stream
// with INTERNAL_ERROR silently; anything else is logged with its stack
// and answered 500 (empty) when nothing was sent yet, or reset with
// INTERNAL_ERROR otherwise. The connection goes on.
//
// # Protocol checks (deny by default)
//
// Connection errors send GOAWAY with their code, then the connection
// lingers briefly (reading and dropping what the client still sends, so
// the GOAWAY is not destroyed by a TCP reset) and closes; every stream's
// context is cancelled, every blocked body read and write fails, and
// ServeConn returns once every handler has returned.
//
//   - The client preface, then a SETTINGS frame, must come first
//     (PROTOCOL_ERROR); both within ReadHeaderTimeout. Our SETTINGS
//     (ENABLE_PUSH 0, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE 256 KiB,
//     MAX_HEADER_LIST_SIZE) and a connection WINDOW_UPDATE to 1 MiB are
//     sent at once. Settings are validated (Setting.Valid) and
//     acknowledged; HEADER_TABLE_SIZE, INITIAL_WINDOW_SIZE (applied to
//     open streams, windows may go negative; overflow is
//     FLOW_CONTROL_ERROR) and MAX_FRAME_SIZE are honoured.
//   - Stream ids: client streams are odd and increasing; an even, reused
//     or lower id is PROTOCOL_ERROR, as are DATA, WINDOW_UPDATE and
//     RST_STREAM on idle streams, PUSH_PROMISE, CONTINUATION out of
//     sequence, and frames larger than 16 KiB (FRAME_SIZE_ERROR). Frames
//     on closed streams are ignored (DATA still gives its bytes back to
//     the connection window); so is a trailer section on one of the last
//     64 streams we reset (or ignored after GOAWAY) while the client
//     could still send (decoded for the HPACK state), where HEADERS on
//     another closed stream is a reused id. PRIORITY, PRIORITY_UPDATE and unknown frame
//     types are ignored. DATA on a half-closed (remote) stream resets it
//     with STREAM_CLOSED.
//   - Requests (RFC 9113 §8.2, §8.3): lowercase token names; values
//     without NUL, CR, LF or other controls but HTAB, and without
//     whitespace at either end; no connection-specific fields; TE only
//     "trailers"; pseudo-header fields only before regular ones, only
//     :method, :scheme, :path, :authority, each at most once; :method a
//     token; :scheme "https" or "http"; :path origin-form (visible ASCII
//     without '#', escapes checked) or "*" for OPTIONS; CONNECT with
//     :method and host:port :authority only; no userinfo in :authority; a
//     host field must agree with :authority; content-length a single
//     field of digits, equal to the DATA received (checked as DATA
//     arrives and at END_STREAM); trailers must end the stream and carry
//     no pseudo-header fields. A malformed request is reset with
//     PROTOCOL_ERROR and never reaches the handler.
//   - Header list: at most MaxHeaderBytes (HPACK size) and 512 fields,
//     else 431 without calling the handler; the HPACK decoder keeps
//     decoding (without storing) to stay in sync, so HPACK bombs cost no
//     memory. A single string longer than MaxHeaderBytes, or invalid
//     HPACK, is COMPRESSION_ERROR. A header block of more than
//     max(32, 2×MaxHeaderBytes/16 KiB) CONTINUATION frames, or more than
//     2×MaxHeaderBytes+16 KiB encoded, is ENHANCE_YOUR_CALM.
//   - Flow control: sending honours the client's connection and stream
//     windows and its MAX_FRAME_SIZE (DATA frames are at most 16 KiB);
//     writers waiting for window wake on WINDOW_UPDATE, RST_STREAM,
//     connection close and their write deadline. Window overflow is
//     FLOW_CONTROL_ERROR (on the connection, or the stream reset).
//     Receiving: DATA beyond the connection window is FLOW_CONTROL_ERROR,
//     beyond the stream window the stream is reset with
//     FLOW_CONTROL_ERROR; windows are given back as the handler reads, in
//     batches of half a window.
//   - Floods: more than 1000 frames within 10 seconds of one kind of
//     SETTINGS, PING (either way), useless frames (PRIORITY,
//     PRIORITY_UPDATE, unknown types, empty DATA without END_STREAM,
//     zero-increment WINDOW_UPDATE, RST_STREAM on closed streams, requests
//     refused as malformed or beyond MaxConcurrentStreams, requests
//     answered without a handler: 431, 417) or resets of
//     streams whose handler was still running (rapid reset,
//     CVE-2023-44487; each stream completed normally earns one reset
//     back) end the connection with GOAWAY(ENHANCE_YOUR_CALM). Streams
//     reset by the client keep counting toward MaxConcurrentStreams until
//     their handler returns.
//   - Writing is bounded: handlers block on flow control and on the
//     socket, never on an unbounded queue; control frames are written
//     with a deadline (WriteTimeout, else 10s), and a failed or timed-out
//     socket write ends the connection. SendStallTimeout bounds each wait
//     of a response write (for window or for the socket) and
//     BodyStallTimeout each wait for request DATA, so a client that stops
//     reading or sending is cut off while a slow but steady one is not.
//
// Shutdown sends GOAWAY(NO_ERROR) with the last stream id it accepted
// (one GOAWAY, not the two-step dance: streams the client opens
// meanwhile are refused by being ignored, and the client retries them),
// lets the running streams finish and closes each connection when its
// last stream is done; IdleTimeout does the same for a connection without
// streams.
package h2
