package ocspresp

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Media types of RFC 6960 appendix C.
const (
	contentTypeRequest  = "application/ocsp-request"
	contentTypeResponse = "application/ocsp-response"
)

// allowedMethods is the Allow header sent with 405.
const allowedMethods = "GET, HEAD, POST"

// ServeHTTP answers one OCSP request: GET or HEAD with the base64 DER
// request as the whole (prefix-stripped) URL path, or POST with the DER
// request as body. OCSP-level failures (malformed request, foreign issuer, no
// signer yet) are answered 200 with the corresponding OCSPResponse status, as
// RFC 6960 responders do; only HTTP-level problems (method, media type, body
// size) get HTTP error codes.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	var der []byte
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		var err error
		if der, err = decodeGETPath(req.URL.Path, r.maxBody); err != nil {
			r.log.Debug("ocsp: malformed GET request", "err", err)
			r.write(w, req, failure(malformedResponse))
			return
		}
	case http.MethodPost:
		var status int
		var err error
		if der, status, err = r.readPOST(w, req); err != nil {
			r.httpFail(w, status, err)
			return
		}
	default:
		w.Header().Set("Allow", allowedMethods)
		r.httpFail(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed (want GET or POST)", req.Method))
		return
	}
	r.write(w, req, r.respond(der))
}

// readPOST reads a POST body of at most maxBody bytes. A missing Content-Type
// is tolerated; another media type than application/ocsp-request is not.
func (r *Responder) readPOST(w http.ResponseWriter, req *http.Request) ([]byte, int, error) {
	if ct := req.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != contentTypeRequest {
			return nil, http.StatusUnsupportedMediaType,
				fmt.Errorf("content type %q not supported (want %s)", ct, contentTypeRequest)
		}
	}
	tooLarge := fmt.Errorf("request body larger than %d bytes", r.maxBody)
	if req.ContentLength > r.maxBody {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	der, err := io.ReadAll(http.MaxBytesReader(w, req.Body, r.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, http.StatusRequestEntityTooLarge, tooLarge
		}
		return nil, http.StatusBadRequest, fmt.Errorf("reading request body: %w", err)
	}
	return der, 0, nil
}

// decodeGETPath decodes the request from a GET URL path (RFC 6960 appendix
// A.1: the URL-encoded base64 of the DER request). net/http has already
// percent-decoded the path once (%2B, %2F, %3D); the decoder also tolerates
// a second level of percent-encoding, leading slashes, missing padding, a
// '+' turned into a space, and the URL-safe alphabet.
func decodeGETPath(p string, maxBody int64) ([]byte, error) {
	p = strings.TrimLeft(p, "/")
	if strings.Contains(p, "%") {
		if u, err := url.PathUnescape(p); err == nil {
			p = u
		}
	}
	p = strings.TrimRight(p, "=")
	if p == "" {
		return nil, errors.New("ocsp request: empty GET path")
	}
	if len(p) > base64.RawStdEncoding.EncodedLen(int(min(maxBody, 1<<30))) {
		return nil, fmt.Errorf("ocsp request: GET path of %d characters exceeds the %d-byte limit", len(p), maxBody)
	}
	p = strings.Map(func(c rune) rune {
		switch c {
		case ' ':
			return '+'
		case '-':
			return '+'
		case '_':
			return '/'
		}
		return c
	}, p)
	der, err := base64.RawStdEncoding.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("ocsp request: GET path is not base64: %w", err)
	}
	return der, nil
}

// write sends an OCSP response. Successful responses to GET without nonce
// carry the RFC 5019 §6.2 caching headers, with max-age running until the
// responder would re-sign; everything else is marked no-store.
func (r *Responder) write(w http.ResponseWriter, req *http.Request, a answer) {
	h := w.Header()
	h.Set("Content-Type", contentTypeResponse)
	h.Set("Content-Length", strconv.Itoa(len(a.der)))
	switch {
	case !a.signed:
		r.failures.Add(1)
		h.Set("Cache-Control", "no-store")
	case a.nonce:
		h.Set("Cache-Control", "no-store")
	case req.Method != http.MethodPost:
		setCacheHeaders(h, a, r.now())
	}
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = w.Write(a.der)
	}
}

// setCacheHeaders sets Cache-Control, Last-Modified (thisUpdate) and Expires
// (nextUpdate) for a cacheable response.
func setCacheHeaders(h http.Header, a answer, now time.Time) {
	maxAge := max(int64(a.refreshAt.Sub(now)/time.Second), 0)
	h.Set("Cache-Control", "max-age="+strconv.FormatInt(maxAge, 10)+", public, no-transform, must-revalidate")
	h.Set("Last-Modified", a.v.thisUpdate.UTC().Format(http.TimeFormat))
	h.Set("Expires", a.v.nextUpdate.UTC().Format(http.TimeFormat))
}

// httpFail answers an HTTP-level error in plain text.
func (r *Responder) httpFail(w http.ResponseWriter, status int, err error) {
	r.failures.Add(1)
	r.log.Debug("ocsp: rejected HTTP request", "status", status, "err", err)
	http.Error(w, err.Error(), status)
}
