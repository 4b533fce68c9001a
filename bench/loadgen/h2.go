package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"golang.org/x/net/http2/hpack"
)

// h2Conn is a minimal HTTP/2 client for one connection with one stream in
// flight: it writes a HEADERS frame (END_STREAM) per request and reads
// frames until that stream ends, answering SETTINGS and PING on the way.
// Like h1Conn it exists because net/http's client costs several times more
// CPU than the servers under test on the core the generator shares.
type h2Conn struct {
	c         net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	enc       *hpack.Encoder
	hbuf      bytes.Buffer
	dec       *hpack.Decoder
	authority string
	path      string
	nextID    uint32
	recvd     uint32 // connection-level DATA bytes not yet given back
	status    int
	goaway    bool
	hdr       [9]byte
	buf       []byte
}

const (
	h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

	frData         = 0
	frHeaders      = 1
	frRSTStream    = 3
	frSettings     = 4
	frPushPromise  = 5
	frPing         = 6
	frGoAway       = 7
	frWindowUpdate = 8
	frContinuation = 9

	flEndStream  = 0x1
	flAck        = 0x1
	flEndHeaders = 0x4
	flPadded     = 0x8
	flPriority   = 0x20

	h2Window      = 1 << 30
	h2MaxFrame    = 1 << 14 // SETTINGS_MAX_FRAME_SIZE default; we do not raise it
	h2SettingHTS  = 0x1
	h2SettingPush = 0x2
	h2SettingIWS  = 0x4
)

var errGoAway = errors.New("GOAWAY before the stream was processed")

// newH2Conn sends the connection preface and our SETTINGS on c (already
// TLS with ALPN h2). br and bw are reused buffers, reset onto c.
func newH2Conn(c net.Conn, br *bufio.Reader, bw *bufio.Writer, authority, path string) *h2Conn {
	br.Reset(c)
	bw.Reset(c)
	h := &h2Conn{c: c, br: br, bw: bw, authority: authority, path: path, nextID: 1}
	h.enc = hpack.NewEncoder(&h.hbuf)
	h.dec = hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			h.status, _ = strconv.Atoi(f.Value)
		}
	})
	bw.WriteString(h2Preface)
	var s [12]byte
	binary.BigEndian.PutUint16(s[0:], h2SettingPush) // push off
	binary.BigEndian.PutUint16(s[6:], h2SettingIWS)
	binary.BigEndian.PutUint32(s[8:], h2Window)
	h.writeFrame(frSettings, 0, 0, s[:])
	var w [4]byte
	binary.BigEndian.PutUint32(w[:], h2Window-65535)
	h.writeFrame(frWindowUpdate, 0, 0, w[:])
	return h // flushed with the first request
}

func (h *h2Conn) writeFrame(typ, flags byte, stream uint32, payload []byte) {
	var hdr [9]byte
	hdr[0], hdr[1], hdr[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	hdr[3], hdr[4] = typ, flags
	binary.BigEndian.PutUint32(hdr[5:], stream&0x7fffffff)
	h.bw.Write(hdr[:])
	h.bw.Write(payload)
}

func (h *h2Conn) readFrame() (typ, flags byte, stream uint32, payload []byte, err error) {
	if _, err = io.ReadFull(h.br, h.hdr[:]); err != nil {
		return 0, 0, 0, nil, err
	}
	n := int(h.hdr[0])<<16 | int(h.hdr[1])<<8 | int(h.hdr[2])
	if n > h2MaxFrame {
		return 0, 0, 0, nil, fmt.Errorf("%w: frame of %d bytes", errBadHeader, n)
	}
	if cap(h.buf) < n {
		h.buf = make([]byte, n, h2MaxFrame)
	}
	payload = h.buf[:n]
	if _, err = io.ReadFull(h.br, payload); err != nil {
		return 0, 0, 0, nil, err
	}
	return h.hdr[3], h.hdr[4], binary.BigEndian.Uint32(h.hdr[5:]) & 0x7fffffff, payload, nil
}

// do sends one GET and reads its response. closing reports a GOAWAY.
func (h *h2Conn) do() (status int, closing bool, err error) {
	id := h.nextID
	h.nextID += 2
	h.hbuf.Reset()
	for _, f := range [...]hpack.HeaderField{
		{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "https"},
		{Name: ":authority", Value: h.authority}, {Name: ":path", Value: h.path},
		{Name: "user-agent", Value: "mtlsgate-loadgen"},
	} {
		_ = h.enc.WriteField(f)
	}
	h.writeFrame(frHeaders, flEndStream|flEndHeaders, id, h.hbuf.Bytes())
	if err := h.bw.Flush(); err != nil {
		return 0, true, err
	}
	h.status = 0
	inHeaders := false // a header block continues in CONTINUATION frames
	var blockStream uint32
	blockEnds := false
	for {
		typ, flags, sid, p, err := h.readFrame()
		if err != nil {
			return 0, true, err
		}
		if inHeaders != (typ == frContinuation) {
			return 0, true, fmt.Errorf("%w: unexpected frame type %d", errBadHeader, typ)
		}
		switch typ {
		case frSettings:
			if flags&flAck == 0 {
				for i := 0; i+6 <= len(p); i += 6 {
					if binary.BigEndian.Uint16(p[i:]) == h2SettingHTS {
						h.enc.SetMaxDynamicTableSizeLimit(binary.BigEndian.Uint32(p[i+2:]))
					}
				}
				h.writeFrame(frSettings, flAck, 0, nil)
				if err := h.bw.Flush(); err != nil {
					return 0, true, err
				}
			}
		case frPing:
			if flags&flAck == 0 {
				h.writeFrame(frPing, flAck, 0, p)
				if err := h.bw.Flush(); err != nil {
					return 0, true, err
				}
			}
		case frGoAway:
			h.goaway = true
			if len(p) >= 4 && binary.BigEndian.Uint32(p)&0x7fffffff < id {
				return 0, true, errGoAway
			}
		case frRSTStream:
			if sid == id {
				code := uint32(0)
				if len(p) >= 4 {
					code = binary.BigEndian.Uint32(p)
				}
				return 0, true, fmt.Errorf("stream reset by server, code %d", code)
			}
		case frPushPromise:
			return 0, true, fmt.Errorf("%w: PUSH_PROMISE although push is off", errBadHeader)
		case frHeaders, frContinuation:
			frag := p
			if typ == frHeaders {
				if frag, err = headerFragment(flags, p); err != nil {
					return 0, true, err
				}
				blockStream, blockEnds = sid, flags&flEndStream != 0
			}
			// Every header block is decoded, whichever stream, so the
			// HPACK dynamic table stays in sync with the server's.
			if _, err := h.dec.Write(frag); err != nil {
				return 0, true, err
			}
			inHeaders = flags&flEndHeaders == 0
			if !inHeaders {
				if err := h.dec.Close(); err != nil {
					return 0, true, err
				}
				if blockStream == id && blockEnds {
					return h.done()
				}
			}
		case frData:
			h.recvd += uint32(len(p))
			if h.recvd > h2Window/2 {
				var w [4]byte
				binary.BigEndian.PutUint32(w[:], h.recvd)
				h.writeFrame(frWindowUpdate, 0, 0, w[:])
				h.recvd = 0
				if err := h.bw.Flush(); err != nil {
					return 0, true, err
				}
			}
			if sid == id && flags&flEndStream != 0 {
				return h.done()
			}
		}
	}
}

func (h *h2Conn) done() (int, bool, error) {
	if h.status == 0 {
		return 0, true, fmt.Errorf("%w: response without :status", errBadHeader)
	}
	return h.status, h.goaway, nil
}

// headerFragment strips padding and priority fields from a HEADERS payload.
func headerFragment(flags byte, p []byte) ([]byte, error) {
	if flags&flPadded != 0 {
		if len(p) < 1 || int(p[0]) >= len(p) {
			return nil, fmt.Errorf("%w: bad padding", errBadHeader)
		}
		p = p[1 : len(p)-int(p[0])]
	}
	if flags&flPriority != 0 {
		if len(p) < 5 {
			return nil, fmt.Errorf("%w: short priority", errBadHeader)
		}
		p = p[5:]
	}
	return p, nil
}

func (h *h2Conn) setDeadline(t time.Time) { _ = h.c.SetDeadline(t) }
func (h *h2Conn) close()                  { h.c.Close() }
