package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"

	"github.com/hangarvm/hangar/internal/api"
	"github.com/hangarvm/hangar/internal/client"
	"github.com/hangarvm/hangar/internal/nodeauth"
	"github.com/hangarvm/hangar/internal/store"
	"github.com/hangarvm/hangar/internal/syndicate"
)

// clusterConfig is how this node signs the calls it forwards and checks those
// forwarded to it: the cluster secret from --cluster-secret-file, else
// HANGAR_CLUSTER_SECRET, else the one kept in the database (made by the first node
// to start); and a transport that trusts the other nodes' certificates. It returns
// a line for the operator's log, saying where the secret came from.
func clusterConfig(ctx context.Context, o *serveOptions, db *store.DB) (api.Cluster, string, error) {
	var c api.Cluster
	secret, from := os.Getenv("HANGAR_CLUSTER_SECRET"), "HANGAR_CLUSTER_SECRET"
	if o.clusterSecretFile != "" {
		data, err := os.ReadFile(o.clusterSecretFile)
		if err != nil {
			return c, "", fmt.Errorf("--cluster-secret-file: %w", err)
		}
		secret, from = string(bytes.TrimSpace(data)), o.clusterSecretFile
	}
	if secret == "" {
		var err error
		if secret, err = db.ClusterSecret(ctx, "forwarding", nodeauth.NewSecret()); err != nil {
			return c, "", fmt.Errorf("reading the cluster secret: %w", err)
		}
		from = "the database"
	}
	key, err := nodeauth.NewKey([]byte(secret))
	if err != nil {
		return c, "", fmt.Errorf("%s: %w", from, err)
	}
	c.Key = key
	files := []string{}
	for _, f := range []string{o.tlsCert, o.tlsCA} {
		if f != "" {
			files = append(files, f)
		}
	}
	if len(files) > 0 {
		pool, err := client.CertPool(files...)
		if err != nil {
			return c, "", fmt.Errorf("--tls-cert, --tls-ca: %w", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		c.Transport = tr
	}
	return c, "from " + from, nil
}

// serverTLS loads --tls-cert and --tls-key; nil when the node serves plain HTTP.
func serverTLS(o *serveOptions) (*tls.Config, error) {
	if o.tlsCert == "" && o.tlsKey == "" {
		return nil, nil
	}
	if o.tlsCert == "" || o.tlsKey == "" {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// scheme is the scheme this node serves.
func scheme(o *serveOptions) string {
	if o.tlsCert != "" {
		return "https"
	}
	return "http"
}

// signingKey is this installation's Ed25519 signing key: made by the first node to
// start and kept in the database as a cluster secret, so every node signs with it.
func signingKey(ctx context.Context, db *store.DB) (ed25519.PrivateKey, error) {
	text, err := db.ClusterSecret(ctx, store.SigningKeySecret, syndicate.NewPrivateKey())
	if err != nil {
		return nil, fmt.Errorf("reading the signing key: %w", err)
	}
	return syndicate.ParsePrivateKey(text)
}
