package certload

// KeyPairSpec names where a certificate chain and its private key come from.
// The zero value is invalid (Cert is required). A KeyPairSpec is a plain value
// and safe to copy and share.
type KeyPairSpec struct {
	// Cert is a PEM chain file (leaf first), or a .p12/.pfx/.jks keystore
	// holding both the key and the chain (then Key must be empty).
	Cert string
	// Key is the PEM private key file. When Cert is PEM and Key is empty, the
	// key is looked for in the Cert file itself (a combined file).
	Key string
	// PasswordFile holds the password for an encrypted PEM key or a keystore;
	// one trailing "\n" or "\r\n" is removed.
	PasswordFile string
	// PasswordEnv names an environment variable holding the password
	// instead. It is an error to set both PasswordFile and PasswordEnv.
	PasswordEnv string
	// Alias picks a private key entry in a JKS or PKCS#12 keystore that holds
	// several. Aliases are matched case-insensitively, as keytool does. It is
	// an error to set Alias for a PEM certificate file.
	Alias string
}

// Files returns every file LoadKeyPair reads (certificate, key, password
// file), without duplicates, for a file watcher. It does not touch the file
// system.
func (s KeyPairSpec) Files() []string {
	return uniqueNonEmpty(s.Cert, s.Key, s.PasswordFile)
}

func (s KeyPairSpec) validate() error {
	if s.Cert == "" {
		return specErr(ErrInvalidSpec, "no certificate file given")
	}
	if s.PasswordFile != "" && s.PasswordEnv != "" {
		return specErr(ErrInvalidSpec, "give a password file or a password environment variable, not both")
	}
	if f := formatByName(s.Cert); f != fmtPEM && s.Key != "" {
		return specErr(ErrInvalidSpec, "%s is a %s keystore, which holds the private key itself; leave the key file (%s) empty", s.Cert, f, s.Key)
	}
	return nil
}

// TrustSpec names a trust bundle: a PEM file of CA certificates, or a
// .p12/.pfx/.jks truststore (then a password is needed for JKS and for
// password-protected PKCS#12). A TrustSpec is a plain value and safe to copy.
type TrustSpec struct {
	File         string
	PasswordFile string
	PasswordEnv  string
}

// Files returns every file LoadTrustBundle reads, without duplicates, for a
// file watcher. It does not touch the file system.
func (s TrustSpec) Files() []string {
	return uniqueNonEmpty(s.File, s.PasswordFile)
}

func (s TrustSpec) validate() error {
	if s.File == "" {
		return specErr(ErrInvalidSpec, "no trust bundle file given")
	}
	if s.PasswordFile != "" && s.PasswordEnv != "" {
		return specErr(ErrInvalidSpec, "give a password file or a password environment variable, not both")
	}
	return nil
}

func uniqueNonEmpty(names ...string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n == "" {
			continue
		}
		dup := false
		for _, o := range out {
			if o == n {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, n)
		}
	}
	return out
}
