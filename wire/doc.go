// Package wire is the eventbus frame codec.
//
// Every frame, in both directions, is a u32 little-endian length N, a u32
// little-endian CRC-32 of the N message bytes, then the N bytes of one
// protobuf Envelope (package eventbusv1). The codec checks the length against
// a configured maximum before reading the body, rejects zero-length frames,
// verifies the checksum, and on the first frame of a connection tells a
// checksum that is merely computed with the other CRC variant apart from a
// corrupt one, so that a misconfigured peer gets an error that says so.
//
// Reader decodes frames from a byte stream and lends out its buffer; the
// Append functions encode frames onto a caller's buffer so that a writer can
// batch many frames into one write. Delivered events are encoded once and
// shared among receivers: AppendDeliveryFrame joins the shared bytes with a
// small per-receiver suffix without re-encoding or re-checksumming them.
//
// The package does no I/O of its own beyond the io.Reader it is given and
// imports no other eventbus package except the generated messages.
package wire
