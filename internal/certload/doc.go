// Package certload loads the gateway's own key pairs and trust bundles from
// files: PEM, PKCS#12 (.p12/.pfx) and JKS (.jks).
//
// It owns:
//
//   - LoadKeyPair: a certificate chain and its private key, as a
//     tls.Certificate with Leaf set, after checking that the key matches the
//     leaf. PEM keys may be PKCS#1, SEC1, PKCS#8 (RSA, ECDSA, Ed25519),
//     encrypted PKCS#8 (PBES2 with PBKDF2 or scrypt) or legacy
//     OpenSSL-encrypted ("Proc-Type: 4,ENCRYPTED").
//   - LoadTrustBundle: a set of trusted certificates as a Bundle (pool,
//     certificates, source path), with a documented rule for which PEM blocks
//     are used, skipped or refused (see LoadTrustBundle and classifyBlock).
//   - Format detection: the file name picks the format and the content is
//     sniffed (JKS magic 0xFEEDFEED, DER PFX, "-----BEGIN"), so a mis-named
//     file fails with a message saying what it really is.
//   - Passwords, from a file (one trailing newline trimmed) or an environment
//     variable, and KeyFileWarnings for secrets with loose permissions.
//   - Errors that name the file and say what to do (*FileError, sentinels in
//     errors.go). No error or message ever contains key bytes or a password.
//
// It does not watch files, reload or cache: the gateway watches
// KeyPairSpec.Files and TrustSpec.Files, calls the loaders again, and swaps
// the result in atomically, keeping the old state when a load fails. It does
// not verify chains, check validity dates or revocation, or build
// tls.Configs. All functions are safe for concurrent use; the package has no
// mutable state.
//
// Security notes. Parsing never panics: inputs to third-party decoders are
// validated first (walkJKS, checkEncryptedPKCS8), and any panic that slips
// through is turned into an error (guard). Files are capped at 8 MiB, and
// encrypted PEM keys may not demand unbounded key-derivation work. A
// keystore's own chain is never used as a trust bundle, because that would
// trust everything its issuer signs. PKCS#12 KDF iteration counts are not
// bounded (go-pkcs12 does not expose them); these files are operator
// configuration, not network input.
package certload
