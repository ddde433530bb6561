// Struct offsets Go crypto/tls tracing needs, per Go release, for binaries without DWARF
// (`-ldflags=-w`, `-s -w`). Each row holds from its release until the next row's.
//
// Measured from the DWARF of a crypto/tls program (test/fixtures/go-tls-probe) built by each toolchain
// listed in `verified`, for linux/amd64 and linux/arm64 (the layouts are the same: both have 8-byte
// pointers and the same alignment rules), and checked independently with Go's debug/dwarf.
// test/symbols/go-offsets-table.test.ts compares the row of the local toolchain with its DWARF.
//
// What moved, and why (Go source):
//   crypto/tls.Conn.vers  64 → 72 in 1.21: `quic *quicState` was added after handshakeFn.
//   runtime.g.goid       152 → 160 in 1.23: `syscallbp uintptr` was added before it;
//                        160 → 152 in 1.25: runtime.gobuf (inline in g, before goid) lost `ret uintptr`.
// The rest has not moved since Go 1.16:
//   crypto/tls.Conn.conn 0 (first field), net.TCPConn{conn{fd *netFD}} 0, net.netFD.pfd 0,
//   internal/poll.FD.Sysfd 16 (after fdmu fdMutex{state uint64; rsema, wsema uint32}).

/** Offsets (bytes) along the path from a *crypto/tls.Conn to its socket, and the goroutine id. */
export interface GoTlsStructOffsets {
  /** crypto/tls.Conn.conn: a net.Conn interface value {itab pointer, data pointer}. */
  tlsConnConn: number;
  /** From the interface's data pointer (*net.TCPConn): TCPConn's embedded conn, then conn.fd (*net.netFD). */
  tcpConnConnFd: number;
  /** net.netFD.pfd (internal/poll.FD, inline). */
  netFdPfd: number;
  /** internal/poll.FD.Sysfd (int, 8 bytes). */
  pfdSysfd: number;
  /** runtime.g.goid (8 bytes: int64 in older releases, uint64 in newer). */
  gGoid: number;
  /** crypto/tls.Conn.vers (uint16): the negotiated TLS version, e.g. 0x0304. */
  tlsConnVers?: number;
  /** crypto/tls.Conn.isClient (bool). */
  tlsConnIsClient?: number;
}

export interface GoOffsetsRow {
  /** First Go release (major.minor) the row applies to. */
  since: { major: number; minor: number };
  offsets: GoTlsStructOffsets;
  /** Toolchains whose binaries were measured for this row. */
  verified: readonly string[];
}

const common = { tlsConnConn: 0, tcpConnConnFd: 0, netFdPfd: 0, pfdSysfd: 16, tlsConnIsClient: 16 };

/** Oldest first. Go before 1.16 is not covered (it also predates the register ABI). */
export const GO_TLS_OFFSETS: readonly GoOffsetsRow[] = [
  {
    since: { major: 1, minor: 16 },
    offsets: { ...common, gGoid: 152, tlsConnVers: 64 },
    verified: ['go1.16.15', 'go1.17.13', 'go1.18.10', 'go1.19.13', 'go1.20.14'],
  },
  {
    since: { major: 1, minor: 21 },
    offsets: { ...common, gGoid: 152, tlsConnVers: 72 },
    verified: ['go1.21.0', 'go1.21.13', 'go1.22.0', 'go1.22.12'],
  },
  {
    since: { major: 1, minor: 23 },
    offsets: { ...common, gGoid: 160, tlsConnVers: 72 },
    verified: ['go1.23.0', 'go1.23.12', 'go1.24.0', 'go1.24.13'],
  },
  {
    since: { major: 1, minor: 25 },
    offsets: { ...common, gGoid: 152, tlsConnVers: 72 },
    verified: ['go1.25.0', 'go1.26.0', 'go1.26.8'],
  },
];

/** The newest release the table was measured on: later ones reuse its last row, flagged as a guess. */
export const GO_TLS_OFFSETS_NEWEST_VERIFIED = { major: 1, minor: 26 };

export interface GoOffsetsLookup {
  offsets: GoTlsStructOffsets;
  /** False when the release is newer than any measured one (the last row is assumed to still hold). */
  verified: boolean;
}

/** The row for a Go release; undefined before Go 1.16 or for Go 2+. */
export function goTlsOffsetsFor(version: { major: number; minor: number }): GoOffsetsLookup | undefined {
  if (version.major !== 1) return undefined;
  let row: GoOffsetsRow | undefined;
  for (const r of GO_TLS_OFFSETS) if (version.minor >= r.since.minor) row = r;
  if (!row) return undefined;
  return { offsets: { ...row.offsets }, verified: version.minor <= GO_TLS_OFFSETS_NEWEST_VERIFIED.minor };
}
