package gateway

import (
	"errors"
	"fmt"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/openapi"
)

// LoadConfig reads a config file, imports its routes_from documents and
// validates the result: what serve and reload see. specs are the imported
// documents (to watch). Problems carry YAML lines.
func LoadConfig(path string) (cfg *config.Config, src *config.Source, specs []string, err error) {
	cfg, src, err = config.LoadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	specs, importProbs := importRoutes(cfg)
	probs := src.Annotate(importProbs)
	probs = append(probs, src.Annotate(config.Validate(cfg))...)
	if len(probs) > 0 {
		return cfg, src, specs, probs
	}
	return cfg, src, specs, nil
}

// importRoutes appends the routes of every routes_from document to
// cfg.Routes (after the routes written in the file), each marked with its
// origin so problems point at the document. It returns the documents and
// the files they reference, for the file watcher, and every problem found.
func importRoutes(cfg *config.Config) (files []string, probs config.Problems) {
	for i := range cfg.RoutesFrom {
		rf := &cfg.RoutesFrom[i]
		path := fmt.Sprintf("routes_from[%d]", i)
		if rf.OpenAPI == "" || rf.Upstream == "" {
			continue // reported by Validate
		}
		if config.CheckNamePrefix(rf.NamePrefix) != nil {
			continue // reported by Validate
		}
		routes, refs, err := openapi.ImportFiles(rf.OpenAPI, openapi.Options{Upstream: rf.Upstream, Host: rf.Host,
			Unsecured: rf.Unsecured, NamePrefix: rf.NamePrefix})
		// The document and the files its $refs name: a change to any of
		// them reloads (one that is missing reloads when it appears).
		files = append(append(files, rf.OpenAPI), refs...)
		if err != nil {
			var ps openapi.Problems
			if errors.As(err, &ps) {
				for _, p := range ps {
					probs = append(probs, &config.FieldError{Path: path + ".openapi", Err: p})
				}
				continue
			}
			probs = append(probs, &config.FieldError{Path: path + ".openapi", Err: err})
			continue
		}
		for _, r := range routes {
			r.Forward = rf.Forward
			if rf.RateLimit != nil {
				rl := *rf.RateLimit
				r.RateLimit = &rl
			}
			config.DefaultRoute(&r)
			r.Origin = fmt.Sprintf("%s (%s %s)", path, firstMethod(r.Match.Methods), r.Match.Path)
			cfg.Routes = append(cfg.Routes, r)
		}
	}
	return files, probs
}

func firstMethod(ms []string) string {
	if len(ms) == 0 {
		return "*"
	}
	return ms[0]
}
