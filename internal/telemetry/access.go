package telemetry

import (
	"bufio"
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// AccessEntry is one request as written to the access log.
type AccessEntry struct {
	Start      time.Time
	Listener   string
	Route      string
	Method     string
	Path       string
	Proto      string
	Status     int
	Duration   time.Duration
	BytesIn    int64
	BytesOut   int64
	Upstream   string
	RemoteAddr string
	// Client identity; empty when no certificate was presented.
	Subject     string
	SANs        []string
	Serial      string
	Fingerprint string
	// Reason explains a refusal or an upstream failure ("" on success).
	Reason string
	// InsecureUpstream marks requests sent to an upstream whose certificate
	// is not verified (insecure_skip_verify).
	InsecureUpstream bool
	StrippedHeaders  int
	// RevocationFailOpen is the code ("ocsp_unavailable", "crl_stale", …)
	// of a client admitted only by a fail_open revocation rule.
	RevocationFailOpen string
}

// AccessLog writes one JSON object per line per request. Lines are encoded
// without reflection into a pooled buffer and written through a buffer that
// is flushed when full and at least every flush interval, so a busy gateway
// does not pay one write system call per request (nginx's "buffer=…
// flush=…"). A nil *AccessLog discards entries. Safe for concurrent use.
type AccessLog struct {
	mu    sync.Mutex
	w     *bufio.Writer
	dirty bool
	stop  chan struct{}
	done  chan struct{}
	bufs  sync.Pool
}

// NewAccessLog returns an access log writing to w, flushed at least every
// interval (0: after every line). Call Close to flush and stop.
func NewAccessLog(w io.Writer, interval time.Duration) *AccessLog {
	a := &AccessLog{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	a.bufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	if interval <= 0 {
		close(a.done)
		a.w = bufio.NewWriterSize(w, 0)
		return a
	}
	go a.flusher(interval)
	return a
}

func (a *AccessLog) flusher(interval time.Duration) {
	defer close(a.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.mu.Lock()
			if a.dirty {
				_ = a.w.Flush()
				a.dirty = false
			}
			a.mu.Unlock()
		case <-a.stop:
			return
		}
	}
}

// Close flushes buffered lines and stops the flusher. Write must not be
// called after Close.
func (a *AccessLog) Close() error {
	if a == nil {
		return nil
	}
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.w.Flush()
}

// Write logs e.
func (a *AccessLog) Write(e *AccessEntry) {
	if a == nil {
		return
	}
	bp := a.bufs.Get().(*[]byte)
	b := AppendAccessJSON((*bp)[:0], e)
	b = append(b, '\n')
	a.mu.Lock()
	_, _ = a.w.Write(b)
	if a.w.Size() == 0 {
		_ = a.w.Flush()
	}
	a.dirty = true
	a.mu.Unlock()
	if cap(b) <= 64<<10 {
		*bp = b
		a.bufs.Put(bp)
	}
}

// AppendAccessJSON appends e as one JSON object (no newline) to b. Keys are
// fixed and always valid JSON whatever the field contents.
func AppendAccessJSON(b []byte, e *AccessEntry) []byte {
	b = append(b, `{"time":"`...)
	b = e.Start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","msg":"access"`...)
	b = appendStr(b, "listener", e.Listener)
	b = appendStr(b, "route", e.Route)
	b = appendStr(b, "method", e.Method)
	b = appendStr(b, "path", e.Path)
	b = appendStr(b, "proto", e.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(e.Duration.Microseconds())/1000, 'f', -1, 64)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, max(e.BytesIn, 0), 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.BytesOut, 10)
	b = appendStr(b, "remote", e.RemoteAddr)
	if e.Upstream != "" {
		b = appendStr(b, "upstream", e.Upstream)
	}
	if e.Subject != "" || e.Fingerprint != "" {
		b = append(b, `,"client":{`...)
		b = appendStr(b, "subject", e.Subject)
		b = append(b, `,"sans":[`...)
		for i, s := range e.SANs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendQuoted(b, s)
		}
		b = append(b, ']')
		b = appendStr(b, "serial", e.Serial)
		b = appendStr(b, "fingerprint_sha256", e.Fingerprint)
		b = append(b, '}')
	}
	if e.Reason != "" {
		b = appendStr(b, "reason", e.Reason)
	}
	if e.InsecureUpstream {
		b = append(b, `,"insecure_upstream":true`...)
	}
	if e.RevocationFailOpen != "" {
		b = appendStr(b, "revocation_fail_open", e.RevocationFailOpen)
	}
	if e.StrippedHeaders > 0 {
		b = append(b, `,"stripped_identity_headers":`...)
		b = strconv.AppendInt(b, int64(e.StrippedHeaders), 10)
	}
	return append(b, '}')
}

// appendStr appends `,"key":"value"`; directly after '{' the comma is
// skipped.
func appendStr(b []byte, key, v string) []byte {
	if len(b) > 0 && b[len(b)-1] != '{' {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, `":`...)
	return appendQuoted(b, v)
}

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// control characters, quotes, backslashes, and U+2028/2029 are escaped.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case '\u2028':
				b = append(b, `\u2028`...)
			case '\u2029':
				b = append(b, `\u2029`...)
			default:
				b = append(b, `\ufffd`...)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
