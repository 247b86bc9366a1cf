// Package fetch opens a remote file that the server reads for a user: a disk image
// named by an http, https or s3 URL. The user is not trusted, so neither is the URL:
// a server that fetches whatever it is told is a way into the networks it can reach
// (SSRF). Every connection is checked when it is made, in the dialer, against the
// address actually dialled: after DNS resolution, for every redirect, so that neither
// a redirect nor a DNS name that resolves (or re-resolves) to an internal address gets
// through.
//
// # Vocabulary
//
//   - Source: what to open: a URL and, for s3://BUCKET/KEY, the endpoint and the
//     credentials to sign with (the user's own, sent with the request).
//   - Policy: which addresses may be dialled. Refused: the host's own addresses,
//     loopback, link-local, private (RFC 1918, RFC 4193 unique local), unspecified,
//     multicast and broadcast addresses, IPv4-mapped or not, unless an admin allowed a
//     CIDR that holds the address.
//   - ErrRefused: what every refusal by the policy wraps.
//
// # Invariants
//
//   - The only network path is the Fetcher's dialer: no proxy from the environment
//     (a proxy would be dialled instead of the real target), at most MaxRedirects
//     redirects, each to http or https only.
//   - Nothing here knows of tenants, disks or HTTP status codes of Hangar's own API.
package fetch
