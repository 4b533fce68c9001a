package config_test

import (
	"fmt"

	"github.com/mtlsgate/mtlsgate/internal/config"
)

// Problems come back all at once, each with its YAML path and line.
func ExampleValidate() {
	cfg, src, err := config.Parse("mtlsgate.yaml", []byte(`listeners:
  - name: public
    address: 127.0.0.1:8443
    tls:
      cert: gw.pem
      key: gw.key
      client_auth: sometimes
routes:
  - name: api
    upstream: orders
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range src.Annotate(config.Validate(cfg)) {
		fmt.Println(p)
	}
	// Output:
	// listeners[0].tls.client_auth (line 7): "sometimes": want require, request or none
	// routes[0].upstream (line 10): unknown upstream "orders" (define it under upstreams)
}
