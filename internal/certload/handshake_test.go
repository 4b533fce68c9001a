package certload

import (
	"crypto/tls"
	"io"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"software.sslmate.com/src/go-pkcs12"
)

// TestHandshake proves loaded material works in a real mutual-TLS handshake
// over loopback: the server uses a PEM chain with an intermediate and an
// encrypted key, the client a PKCS#12 keystore, and both verify the other
// with a loaded trust bundle.
func TestHandshake(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	pw := testpki.WriteFile(t, dir, "pw.txt", []byte(testPassword+"\n"))
	serverCert, err := LoadKeyPair(KeyPairSpec{
		Cert:         testpki.WriteFile(t, dir, "server.pem", p.ec.ChainPEM()),
		Key:          testpki.WriteFile(t, dir, "server.key", encPKCS8PEM(t, p.ec.Key, testPassword, nil)),
		PasswordFile: pw,
	})
	checkErr(t, err, nil)
	clientCert, err := LoadKeyPair(KeyPairSpec{
		Cert:         testpki.WriteFile(t, dir, "client.p12", p12(t, pkcs12.Modern, p.rsa, testPassword)),
		PasswordFile: pw,
	})
	checkErr(t, err, nil)
	roots, err := LoadTrustBundle(TrustSpec{File: p.root.WriteCA(t, dir, "root")})
	checkErr(t, err, nil)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{*serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots.Pool,
		MinVersion:   tls.VersionTLS13,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		if err := c.(*tls.Conn).Handshake(); err != nil {
			done <- err
			return
		}
		_, err = c.Write([]byte("ok"))
		done <- err
	}()

	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		Certificates: []tls.Certificate{*clientCert},
		RootCAs:      roots.Pool,
		ServerName:   "gateway.test",
		MinVersion:   tls.VersionTLS13,
	})
	if err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	defer conn.Close()
	buf := make([]byte, 2)
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server: %v", err)
	}
	if got := conn.ConnectionState().PeerCertificates; len(got) != 2 || !got[0].Equal(p.ec.Cert) {
		t.Fatalf("server sent %d certificates, want leaf and intermediate", len(got))
	}
}
