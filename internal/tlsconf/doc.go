// Package tlsconf loads the server's TLS certificate, key and optional
// client CA, and serves them to the HTTP and gRPC listeners through one
// *tls.Config that always hands out the files' current contents: Reload
// (app.Run calls it on SIGHUP) rereads the files and swaps them in
// atomically, for new connections only, and Watch does the same when a
// periodic look finds the files' bytes changed (--tls-reload-interval);
// a reload whose files are bad (missing, unparsable, a key that does not
// match the certificate) keeps what is being served and says why.
// ClientConfig builds the other side for trtserve bench: CAs to trust and
// a client certificate, checked as strictly as the server's files.
//
// Decisions (docs/operations.md, "TLS"):
//   - TLS 1.2 is the minimum; Go's defaults choose the cipher suites
//     (ECDHE with AEAD ciphers only for 1.2) and TLS 1.3 is offered.
//   - A client CA turns on mutual TLS: tls.RequireAndVerifyClientCert, so
//     a client without a certificate signed by one of the CAs fails the
//     handshake, on every route and RPC (health checks included).
//   - The files are read whole at load, at each reload and at each look
//     of Watch (a few KB; polling, not inotify, because a Kubernetes Secret
//     volume swaps a symlink to a new folder, which inotify watches of the
//     files miss). Certificate and key are checked as a pair, so a reload
//     that catches them half-replaced keeps the old pair: Watch logs that
//     once and loads the pair when the second file lands; after SIGHUP,
//     send it again once both are written.
package tlsconf
