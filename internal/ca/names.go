package ca

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strings"
)

// Names are the subject alternative names of a certificate.
type Names struct {
	DNS    []string
	IPs    []net.IP
	Emails []string
	URIs   []*url.URL
}

func (n Names) empty() bool {
	return len(n.DNS) == 0 && len(n.IPs) == 0 && len(n.Emails) == 0 && len(n.URIs) == 0
}

// ParseSANs reads --san values: "dns:api.example.com", "ip:10.0.0.1",
// "email:ops@example.com", "uri:spiffe://example.org/svc". Each value may
// also be a comma-separated list of such entries.
func ParseSANs(values []string) (Names, error) {
	var n Names
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			if err := n.add(item); err != nil {
				return Names{}, err
			}
		}
	}
	return n, nil
}

func (n *Names) add(item string) error {
	kind, value, ok := strings.Cut(item, ":")
	if !ok || value == "" {
		return fmt.Errorf("SAN %q: want kind:value with kind dns, ip, email or uri (e.g. dns:api.example.com)", item)
	}
	switch SANKind(strings.ToLower(kind)) {
	case SANDNS:
		if err := checkDNSName(value); err != nil {
			return fmt.Errorf("SAN %q: %w", item, err)
		}
		n.DNS = append(n.DNS, strings.ToLower(value))
	case SANIP:
		ip := net.ParseIP(value)
		if ip == nil {
			return fmt.Errorf("SAN %q: not an IP address", item)
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		n.IPs = append(n.IPs, ip)
	case SANEmail:
		if err := checkEmail(value); err != nil {
			return fmt.Errorf("SAN %q: %w", item, err)
		}
		n.Emails = append(n.Emails, value)
	case SANURI:
		u, err := checkURI(value)
		if err != nil {
			return fmt.Errorf("SAN %q: %w", item, err)
		}
		n.URIs = append(n.URIs, u)
	default:
		return fmt.Errorf("SAN %q: unknown kind %q (dns, ip, email, uri)", item, kind)
	}
	return nil
}

// checkDNSName accepts a host name in preferred name syntax (letters,
// digits, hyphens, dots), optionally with one leading "*." wildcard label.
func checkDNSName(s string) error {
	name := strings.TrimPrefix(s, "*.")
	if len(s) > 253 {
		return fmt.Errorf("DNS name longer than 253 characters")
	}
	if name == "" || strings.HasSuffix(name, ".") {
		return fmt.Errorf("not a DNS name")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("DNS name has an empty or over-long label")
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("DNS label %q starts or ends with '-'", label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("DNS name has character %q (letters, digits, '-' and '.' only; IDNs in punycode)", r)
			}
		}
	}
	return nil
}

func checkEmail(s string) error {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return fmt.Errorf("not a plain e-mail address (want user@example.com)")
	}
	return nil
}

func checkURI(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" && u.Scheme != "urn" {
		return nil, fmt.Errorf("not an absolute URI")
	}
	if strings.EqualFold(u.Scheme, "spiffe") {
		if u.Host == "" || u.User != nil || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("SPIFFE ID must be spiffe://trust-domain/path without port, user, query or fragment")
		}
	}
	return u, nil
}

// kinds lists the SAN kinds present.
func (n Names) kinds() []SANKind {
	var k []SANKind
	if len(n.DNS) > 0 {
		k = append(k, SANDNS)
	}
	if len(n.IPs) > 0 {
		k = append(k, SANIP)
	}
	if len(n.Emails) > 0 {
		k = append(k, SANEmail)
	}
	if len(n.URIs) > 0 {
		k = append(k, SANURI)
	}
	return k
}

// check validates names that did not come through ParseSANs (a CSR's).
func (n Names) check() error {
	for _, d := range n.DNS {
		if err := checkDNSName(d); err != nil {
			return fmt.Errorf("SAN dns:%q: %w", d, err)
		}
	}
	for _, e := range n.Emails {
		if err := checkEmail(e); err != nil {
			return fmt.Errorf("SAN email:%q: %w", e, err)
		}
	}
	for _, u := range n.URIs {
		if _, err := checkURI(u.String()); err != nil {
			return fmt.Errorf("SAN uri:%q: %w", u.String(), err)
		}
	}
	return nil
}
