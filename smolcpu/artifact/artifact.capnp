@0x803936d159af55fa;
# The one message type of Smol (concept/002), plus lineage and a signature.

struct Artifact {
  id @0 :Text;             # uuid4
  checksum @1 :Data;       # sha256 of payload
  pubkey @2 :Data;         # Ed25519 public key of the signer (empty when unsigned)
  version @3 :Text;        # version of the payload's format, e.g. "v0.0.1"
  type @4 :Text;           # MIME type of the payload
  timestamp @5 :UInt64;    # creation time, unix nanoseconds
  origin @6 :Text;         # worker id that produced it
  role @7 :Text;           # that worker's role
  scope @8 :Text;          # that worker's scope (a run id, a session, "global")
  attributes @9 :List(Attribute);
  payload @10 :Data;
  parents @11 :List(Text); # ids of the artifacts this one was made from
  signature @12 :Data;     # Ed25519 over the signing bytes (empty when unsigned)
}

struct Attribute {
  key @0 :Text;
  value @1 :Text;
}
