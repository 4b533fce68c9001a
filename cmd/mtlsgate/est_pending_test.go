package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/store"
)

// queue puts a waiting request for cn into the CA's store, as the gateway
// does under est.approval: manual.
func queue(t *testing.T, dir, id, cn string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn + ".example"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(filepath.Join(dir, ca.StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	p := store.Pending{ID: id, MatchKey: strings.Repeat(id[:2], 32), Label: "iot", Profile: "client", CN: cn,
		SANs: []string{"dns:" + cn + ".example"}, Credential: "basic:estuser", KeyType: "ecdsa-p256", CSR: der,
		CreatedAt: now, ExpiresAt: now.Add(time.Hour), Status: store.PendingWaiting}
	if _, _, err := st.CreatePending(context.Background(), p, now, store.Audit{Time: now, Actor: "test", Action: "est-queue"}); err != nil {
		t.Fatal(err)
	}
}

func TestESTPendingCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := ca.Init(dir, ca.InitOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	queue(t, dir, "aa00000000000001", "device-1")
	queue(t, dir, "bb00000000000002", "device-2")
	out, _, err := runArgs(t, "est", "pending", "--dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "aa00000000000001") ||
		!strings.Contains(lines[1], "iot/client") || !strings.Contains(lines[1], "dns:device-1.example") || !strings.Contains(lines[1], "basic:estuser") {
		t.Fatalf("est pending:\n%s", out)
	}
	out, _, err = runArgs(t, "est", "approve", "--dir", dir, "aa00000000000001")
	if err != nil || !strings.Contains(out, "approved aa00000000000001") || !strings.Contains(out, "CN=device-1") {
		t.Fatalf("approve: %q %v", out, err)
	}
	if _, _, err := runArgs(t, "est", "approve", "--dir", dir, "aa00000000000001"); err == nil || !strings.Contains(err.Error(), "already approved") {
		t.Fatalf("approve twice: %v", err)
	}
	if _, _, err := runArgs(t, "est", "reject", "--dir", dir, "cc00000000000003"); err == nil || !strings.Contains(err.Error(), "no EST request") {
		t.Fatalf("reject unknown: %v", err)
	}
	if out, _, err = runArgs(t, "est", "reject", "--dir", dir, "bb00000000000002", "--reason", "unknown device"); err != nil || !strings.Contains(out, "rejected bb00000000000002") {
		t.Fatalf("reject: %q %v", out, err)
	}
	if out, _, err := runArgs(t, "est", "pending", "--dir", dir); err != nil || !strings.HasPrefix(out, "ID") || strings.Count(out, "\n") != 1 {
		t.Fatalf("decided requests still pending (%v):\n%s", err, out)
	}
	out, _, err = runArgs(t, "est", "pending", "--dir", dir, "--all", "--json")
	var all []pendingEntry
	if err != nil || json.Unmarshal([]byte(out), &all) != nil || len(all) != 2 ||
		all[0].Status != "approved" || all[0].Serial == "" || all[1].Status != "rejected" || all[1].Reason != "unknown device" {
		t.Fatalf("pending --all --json: %s %v", out, err)
	}
}
