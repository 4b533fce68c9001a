// Package config owns mtlsgate's configuration: the YAML types, a strict
// decoder that rejects unknown keys and duplicate keys with line numbers,
// defaults applied as a separate step, and a pure Validate that returns every
// problem at once, each naming its YAML path and line.
//
// It does not read certificates or keys (the certload package does, when the
// gateway builds its state) and it keeps no global state: a *Config is plain
// data, safe to share read-only once loaded.
package config
