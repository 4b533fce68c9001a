package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// maxCSRSize bounds what ParseCSR reads; real CSRs are a few KiB.
const maxCSRSize = 64 << 10

var oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}

// ParseCSR reads a PKCS#10 certificate request in PEM ("CERTIFICATE
// REQUEST" or "NEW CERTIFICATE REQUEST") or DER, checks its signature
// (proof of possession) and its key, and refuses requests for a CA
// certificate. Errors say what is wrong; they never include key material.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	if len(data) > maxCSRSize {
		return nil, classify(ErrMalformedCSR, fmt.Errorf("CSR is %d bytes; at most %d accepted", len(data), maxCSRSize))
	}
	der := data
	if trimmed := bytes.TrimSpace(data); bytes.HasPrefix(trimmed, []byte("-----BEGIN")) {
		block, rest := pem.Decode(trimmed)
		if block == nil {
			return nil, classify(ErrMalformedCSR, errors.New("CSR: PEM block is malformed"))
		}
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, classify(ErrMalformedCSR, fmt.Errorf("CSR: PEM block is %q, want \"CERTIFICATE REQUEST\"", block.Type))
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, classify(ErrMalformedCSR, errors.New("CSR: data after the PEM block (one request per file)"))
		}
		der = block.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, classify(ErrMalformedCSR, fmt.Errorf("CSR is not a PKCS#10 request in PEM or DER: %w", err))
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, classify(ErrMalformedCSR, fmt.Errorf("CSR signature does not verify (the request was not signed by the key it carries): %w", err))
	}
	if err := checkPublicKey(csr.PublicKey); err != nil {
		return nil, classify(ErrNotPermitted, fmt.Errorf("CSR: %w", err))
	}
	for _, ext := range csr.Extensions {
		if !ext.Id.Equal(oidBasicConstraints) {
			continue
		}
		var bc struct {
			IsCA bool `asn1:"optional"`
			Max  int  `asn1:"optional,default:-1"`
		}
		if rest, err := asn1.Unmarshal(ext.Value, &bc); err != nil || len(rest) != 0 {
			return nil, classify(ErrMalformedCSR, errors.New("CSR: malformed basicConstraints extension"))
		}
		if bc.IsCA {
			return nil, classify(ErrNotPermitted, errors.New("CSR asks for CA:true; this CA issues end-entity certificates only"))
		}
	}
	return csr, nil
}

// SignCSR issues a certificate for a CSR under profile. The CSR contributes
// the public key, the subject's CN, O and OU, and its SANs (checked against
// the profile); everything else comes from the profile.
func (a *Authority) SignCSR(ctx context.Context, data []byte, profile string, ttl time.Duration, action, detail string) (*Issued, error) {
	return a.SignCSRWith(ctx, data, profile, ttl, action, detail, nil)
}

// SignCSRWith is SignCSR with a hook that may change the request before it
// is checked against the profile (the operator overriding the CSR's
// subject, an enrollment protocol pinning names).
func (a *Authority) SignCSRWith(ctx context.Context, data []byte, profile string, ttl time.Duration, action, detail string, edit func(*IssueRequest)) (*Issued, error) {
	csr, err := ParseCSR(data)
	if err != nil {
		return nil, err
	}
	if action == "" {
		action = "sign"
	}
	r := RequestFromCSR(csr, profile, ttl, action, detail)
	if edit != nil {
		edit(&r)
	}
	return a.Issue(ctx, r)
}

// RequestFromCSR turns a parsed CSR into an IssueRequest.
func RequestFromCSR(csr *x509.CertificateRequest, profile string, ttl time.Duration, action, detail string) IssueRequest {
	return IssueRequest{
		Profile:   profile,
		CN:        csr.Subject.CommonName,
		O:         csr.Subject.Organization,
		OU:        csr.Subject.OrganizationalUnit,
		SANs:      Names{DNS: csr.DNSNames, IPs: csr.IPAddresses, Emails: csr.EmailAddresses, URIs: csr.URIs},
		TTL:       ttl,
		PublicKey: csr.PublicKey,
		Action:    action,
		Detail:    detail,
	}
}
