// Package ca is mtlsgate's certificate authority: a root and an issuing
// (intermediate) CA kept in a directory, named profiles that decide what a
// certificate may be, issuance from generated keys or PKCS#10 CSRs,
// revocation, CRLs, the delegated OCSP responder certificate, PKCS#12/JKS
// export and renewal.
//
// The directory layout is a contract with scripts and tests:
//
//	root.pem          root CA certificate
//	root.key          root CA key (0600; PKCS#8, encrypted when a password was given)
//	intermediate.pem  issuing CA certificate
//	intermediate.key  issuing CA key (0600)
//	ca.yaml           settings: name, publish URL, CRL/OCSP validity, profiles
//	ca.db             the store (certificates, revocations, audit log)
//
// State lives in internal/store; this package never writes certificates
// anywhere else except where a caller asks it to (WriteIssued).
package ca
