// Package demo builds the self-contained setup behind `mtlsgate demo`: a
// throw-away CA minted in memory, server and client certificates written to
// a directory, a config that uses them, and an echo upstream that requires
// the gateway's client certificate and shows what the gateway forwarded.
//
// It is a showcase, not a CA: keys are generated fresh on every run and the
// CA key is never written to disk. The built-in CA (`mtlsgate ca`) is the
// real thing.
package demo
