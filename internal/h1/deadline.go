package h1

import (
	"time"

	"github.com/mtlsgate/mtlsgate/internal/stall"
)

// setWriteDeadline sets nc's write deadline unless it is set already.
func (c *conn) setWriteDeadline(t time.Time) {
	if t.Equal(c.wdl) {
		return
	}
	_ = c.nc.SetWriteDeadline(t)
	c.wdl = t
}

// armBodyStall lets the next read of the request body wait at most
// BodyStallTimeout (nginx's client_body_timeout): a client that stops
// sending its body cannot hold the request forever.
func (c *conn) armBodyStall() {
	c.armStall(c.s.BodyStallTimeout, &c.rdl, &c.rEnd, (*conn).setReadDeadline)
}

// armSendStall lets the next write of the response wait at most
// SendStallTimeout (nginx's send_timeout): a client that stops reading
// cannot hold the request, and the upstream connection, forever.
func (c *conn) armSendStall() {
	c.armStall(c.s.SendStallTimeout, &c.wdl, &c.wEnd, (*conn).setWriteDeadline)
}

// armStall moves the deadline *cur, through set, to what a read or write
// starting now may have under the stall timeout d (none when d <= 0),
// never past *end (see stall.Deadline).
func (c *conn) armStall(d time.Duration, cur, end *time.Time, set func(*conn, time.Time)) {
	if d <= 0 {
		return
	}
	c.dlMu.Lock()
	if t, move := stall.Deadline(*cur, *end, d); move {
		set(c, t)
	}
	c.dlMu.Unlock()
}
