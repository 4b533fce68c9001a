package identity

import (
	"encoding/pem"
	"strings"
)

// Envoy's X-Forwarded-Client-Cert (XFCC).
//
// The header is a ","-separated list of elements, one per proxy hop; an
// element is a ";"-separated list of Key=Value pairs. Keys are
// case-insensitive. A value holding ',', ';', '=', '"', '\', SP or HTAB is
// double-quoted, with '"' and '\' escaped by a backslash inside the quotes.
// (Envoy documents the quoting of ',', ';', '=' and of '"'; escaping '\' too
// is what makes the quoting reversible, and a value with neither of them
// reads the same either way.)
//
// The gateway strips every inbound XFCC (StripInbound), so it always emits a
// single fresh element, as Envoy's forward_client_cert_details: SANITIZE_SET
// does, with set_current_client_cert_details {cert, subject, uri, dns}:
//
//	By=<by>;Hash=<hex sha256>;Cert="<url-encoded PEM>";Subject="<RFC 4514>";URI=<uri>;DNS=<dns>
//
// By is omitted when empty; each URI and DNS SAN repeats its key; Subject
// is always present and always quoted, Cert always quoted, as Envoy does.
// Control bytes never reach the header: the subject escapes them as RFC 4514
// hex pairs, other values percent-encode them.

// xfccQuote renders v as an XFCC value, quoted when it must be.
func xfccQuote(v string) string {
	if !strings.ContainsAny(v, ",;=\"\\ \t") {
		return v
	}
	return xfccForceQuote(v)
}

// xfccForceQuote renders v as a quoted XFCC value.
func xfccForceQuote(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if v[i] == '"' || v[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
	return b.String()
}

// xfccRest renders the element without its By pair.
func (id *Identity) xfccRest() string {
	var pairs []string
	if id.FingerprintSHA256 != "" {
		pairs = append(pairs, "Hash="+xfccQuote(escapeValue(id.FingerprintSHA256)))
	}
	if id.Leaf != nil {
		p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Leaf.Raw})
		pairs = append(pairs, `Cert="`+urlEncode(string(p))+`"`)
	}
	pairs = append(pairs, "Subject="+xfccForceQuote(escapeDN(id.Subject)))
	for _, u := range id.URIs {
		pairs = append(pairs, "URI="+xfccQuote(escapeValue(u)))
	}
	for _, d := range id.DNSNames {
		pairs = append(pairs, "DNS="+xfccQuote(escapeValue(d)))
	}
	return strings.Join(pairs, ";")
}

// xfccElement prepends the By pair, if any, to rest.
func xfccElement(by, rest string) string {
	if by == "" {
		return rest
	}
	return "By=" + xfccQuote(escapeValue(by)) + ";" + rest
}

// ParseXFCC parses an X-Forwarded-Client-Cert value into its elements, in
// order. Each element maps a lower-cased key ("by", "hash", "cert",
// "subject", "uri", "dns", ...) to its values in order of appearance, since
// keys like DNS repeat. Quoted values are unquoted and unescaped (`\x`
// stands for x); other values are used as written, trimmed of SP and HTAB.
// No value is URL-decoded: Cert and Chain stay as sent.
//
// An empty or blank value returns no elements and no error. Malformed input
// (an unterminated quote, a pair without '=', an empty element, a control
// byte, a '"' inside an unquoted value, ...) returns an error matching
// ErrSyntax that names the byte offset, for example
// "identity: xfcc: unterminated quoted value at byte 17". ParseXFCC never
// panics and is safe for concurrent use.
func ParseXFCC(v string) ([]map[string][]string, error) {
	i := skipOWS(v, 0)
	if i == len(v) {
		return nil, nil
	}
	var out []map[string][]string
	elem := map[string][]string{}
	for {
		key, val, j, err := parseXFCCPair(v, i)
		if err != nil {
			return nil, err
		}
		elem[key] = append(elem[key], val)
		i = skipOWS(v, j)
		if i == len(v) {
			return append(out, elem), nil
		}
		switch v[i] {
		case ';':
		case ',':
			out = append(out, elem)
			elem = map[string][]string{}
		default:
			return nil, xfccErr("unexpected "+quoteByte(v[i])+" after value", i)
		}
		i = skipOWS(v, i+1)
	}
}

// parseXFCCPair parses Key=Value at v[i] and returns the offset after it.
func parseXFCCPair(v string, i int) (key, val string, next int, err error) {
	start := i
	for i < len(v) && isTokenByte(v[i]) {
		i++
	}
	if i == start {
		if i == len(v) || v[i] == ',' || v[i] == ';' {
			return "", "", i, xfccErr("empty element or pair", i)
		}
		return "", "", i, xfccErr("expected a key, found "+quoteByte(v[i]), i)
	}
	key = strings.ToLower(v[start:i])
	if i == len(v) || v[i] != '=' {
		return "", "", i, xfccErr("expected '=' after key "+key, i)
	}
	i++
	if i < len(v) && v[i] == '"' {
		return parseXFCCQuoted(v, i, key)
	}
	start = i
	for i < len(v) && v[i] != ';' && v[i] != ',' {
		switch c := v[i]; {
		case c == '"':
			return "", "", i, xfccErr("unexpected '\"' in unquoted value", i)
		case isCTL(c) && c != '\t':
			return "", "", i, xfccErr("control byte "+hex2(c), i)
		}
		i++
	}
	return key, strings.Trim(v[start:i], " \t"), i, nil
}

// parseXFCCQuoted parses the quoted value whose opening quote is at v[i].
func parseXFCCQuoted(v string, i int, key string) (string, string, int, error) {
	open := i
	i++
	var b []byte // nil until the first escape
	from := i
	for i < len(v) {
		c := v[i]
		switch {
		case c == '"':
			if b == nil {
				return key, v[from:i], i + 1, nil
			}
			return key, string(append(b, v[from:i]...)), i + 1, nil
		case c == '\\':
			if i+1 == len(v) {
				return "", "", i, xfccErr("unterminated quoted value", open)
			}
			b = append(b, v[from:i]...)
			i++
			if isCTL(v[i]) && v[i] != '\t' {
				return "", "", i, xfccErr("control byte "+hex2(v[i]), i)
			}
			b = append(b, v[i])
			from = i + 1
		case isCTL(c) && c != '\t':
			return "", "", i, xfccErr("control byte "+hex2(c), i)
		}
		i++
	}
	return "", "", i, xfccErr("unterminated quoted value", open)
}

func xfccErr(msg string, off int) error {
	return &syntaxError{header: "xfcc", msg: msg, off: off}
}

// isTokenByte reports an RFC 9110 tchar.
func isTokenByte(c byte) bool {
	if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
