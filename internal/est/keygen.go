package est

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/ca"
)

// serverkeygen (RFC 7030 §4.4): the CSR names the subject and SANs (its
// public key is ignored); the server makes the key pair and returns the
// private key with the certificate. The key exists only in this request's
// memory and the response: the CA is given only its public half, so it is
// never stored (whatever ca.yaml's keep_keys says) or logged.
func (s *Server) serverkeygen(w http.ResponseWriter, r *http.Request, profile, label string) {
	cred, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	data, csr, ok := s.readCSR(w, r)
	if !ok || !s.checkNames(w, &cred, csr) {
		return
	}
	if s.manual(label) {
		// Approval can take days; the key would have to wait in the store.
		http.Error(w, "serverkeygen is not offered where enrollment needs manual approval (the server would have to keep the private key until then); generate the key on the device and use simpleenroll", http.StatusForbidden)
		return
	}
	if cred.PollOnly {
		unauthorized(w, "this enrollment token was already used or has expired")
		return
	}
	if !s.spend(w, &cred) {
		return
	}
	key, err := ca.GenerateKey(s.o.ServerKeyType)
	if err != nil {
		s.refuse(w, r, "est: generating a key", err)
		return
	}
	detail := fmt.Sprintf("EST serverkeygen (%s) by %s", s.o.ServerKeyType, cred.Name)
	cert, ok := s.issue(w, r, data, profile, label, detail, func(ir *ca.IssueRequest) { ir.PublicKey = key.Public() })
	if !ok {
		return
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		s.refuse(w, r, "est: encoding the generated key", err)
		return
	}
	defer clear(pkcs8)
	p7, err := EncodeCertsOnly([]*x509.Certificate{cert})
	if err != nil {
		s.refuse(w, r, "est: encoding the issued certificate", err)
		return
	}
	body, boundary, err := keygenBody(pkcs8, p7)
	if err != nil {
		s.refuse(w, r, "est: encoding the response", err)
		return
	}
	defer clear(body)
	h := w.Header()
	h.Set("Content-Type", "multipart/mixed; boundary="+boundary)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(w).Flush() // see writeCertsOnly
	_, _ = w.Write(body)
}

// keygenBody is the multipart/mixed body of RFC 7030 §4.4.2: the PKCS#8
// private key, then the certs-only PKCS#7, each base64 on one line.
func keygenBody(pkcs8, p7 []byte) ([]byte, string, error) {
	var buf bytes.Buffer
	buf.Grow(2*(len(pkcs8)+len(p7)) + 512) // one allocation: no stray copies of the key
	mw := multipart.NewWriter(&buf)
	for _, p := range []struct {
		ctype string
		der   []byte
	}{
		{"application/pkcs8", pkcs8},
		{"application/pkcs7-mime; smime-type=certs-only", p7},
	} {
		part, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.ctype},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return nil, "", err
		}
		line := make([]byte, base64.StdEncoding.EncodedLen(len(p.der))+1)
		base64.StdEncoding.Encode(line, p.der)
		line[len(line)-1] = '\n'
		_, err = part.Write(line)
		clear(line)
		if err != nil {
			return nil, "", err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.Boundary(), nil
}

// maxKeygenPart bounds one part of a serverkeygen response.
const maxKeygenPart = 64 << 10

// ParseServerKeygen reads a serverkeygen response (RFC 7030 §4.4.2): the
// Content-Type header and the body. It returns the DER of the PKCS#8
// private key and the certificates of the certs-only part. It checks the
// structure, not the certificates; it is meant for tests and clients of
// this package.
func ParseServerKeygen(contentType string, body []byte) (keyDER []byte, certs []*x509.Certificate, err error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, nil, fmt.Errorf("serverkeygen: Content-Type: %w", err)
	}
	if mt != "multipart/mixed" || params["boundary"] == "" {
		return nil, nil, fmt.Errorf("serverkeygen: Content-Type %q, want multipart/mixed with a boundary", mt)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("serverkeygen: %w", err)
		}
		raw, err := io.ReadAll(io.LimitReader(part, maxKeygenPart+1))
		if err != nil {
			return nil, nil, fmt.Errorf("serverkeygen: %w", err)
		}
		if len(raw) > maxKeygenPart {
			return nil, nil, errors.New("serverkeygen: part too large")
		}
		if cte := part.Header.Get("Content-Transfer-Encoding"); !strings.EqualFold(cte, "base64") {
			return nil, nil, fmt.Errorf("serverkeygen: Content-Transfer-Encoding %q, want base64", cte)
		}
		der, err := decodeCSRBody(raw) // the same lenient base64
		if err != nil {
			return nil, nil, fmt.Errorf("serverkeygen: part %q: %w", part.Header.Get("Content-Type"), err)
		}
		pt, ptParams, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch {
		case pt == "application/pkcs8" && keyDER == nil:
			keyDER = der
		case pt == "application/pkcs7-mime" && certs == nil:
			if st := ptParams["smime-type"]; st != "" && st != "certs-only" {
				return nil, nil, fmt.Errorf("serverkeygen: smime-type %q", st)
			}
			if certs, err = ParseCertsOnly(der); err != nil {
				return nil, nil, fmt.Errorf("serverkeygen: %w", err)
			}
		default:
			return nil, nil, fmt.Errorf("serverkeygen: unexpected part %q", part.Header.Get("Content-Type"))
		}
	}
	if keyDER == nil || certs == nil {
		return nil, nil, errors.New("serverkeygen: want a private key part and a certificate part")
	}
	return keyDER, certs, nil
}
