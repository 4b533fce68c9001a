package h1

import (
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// bufSize is the size of pooled read and write buffers. A connection
// holds them only while a request is being read or answered.
const bufSize = 4096

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// getBuf returns a pooled buffer of length bufSize.
func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(p *[]byte) {
	if cap(*p) != bufSize {
		return
	}
	*p = (*p)[:bufSize]
	bufPool.Put(p)
}

// reqState is what a request needs besides its head string and body: the
// http.Request and url.URL handed to the handler, header maps, and
// scratch space. It is pooled: handlers must not keep the request, its
// URL or header maps, or the ResponseWriter after returning.
type reqState struct {
	req      http.Request
	url      url.URL
	header   http.Header // request header
	rheader  http.Header // response header
	vals     []string    // backing of single-value header slices
	spans    []fieldSpan
	keys     []string // sort scratch
	conn     []string // the handler's Connection values
	trailers []string // declared response trailers
	te       [1]string
}

var reqStates = sync.Pool{New: func() any {
	return &reqState{
		header:  make(http.Header),
		rheader: make(http.Header),
		vals:    make([]string, 0, 16),
		spans:   make([]fieldSpan, 0, 16),
	}
}}

func getReqState() *reqState { return reqStates.Get().(*reqState) }

// putReqState clears st (dropping every reference to request data) and
// pools it, unless it grew unusually large.
func putReqState(st *reqState) {
	if len(st.header) > 64 || len(st.rheader) > 64 || cap(st.vals) > 256 {
		return
	}
	// req and url are overwritten as a whole by the next request; the
	// rest is cleared so no request data stays reachable.
	clear(st.header)
	clear(st.rheader)
	clear(st.vals)
	st.vals = st.vals[:0]
	st.spans = st.spans[:0]
	clear(st.conn)
	st.conn = st.conn[:0]
	clear(st.trailers)
	st.trailers = st.trailers[:0]
	st.te[0] = ""
	reqStates.Put(st)
}

// The Date field value is formatted once per second.
type dateValue struct {
	sec int64
	b   [len(http.TimeFormat)]byte
}

var curDate atomic.Pointer[dateValue]

func appendDate(b []byte) []byte {
	now := time.Now()
	sec := now.Unix()
	d := curDate.Load()
	if d == nil || d.sec != sec {
		d = &dateValue{sec: sec}
		now.UTC().AppendFormat(d.b[:0], http.TimeFormat)
		curDate.Store(d)
	}
	b = append(b, "Date: "...)
	b = append(b, d.b[:]...)
	return append(b, "\r\n"...)
}
