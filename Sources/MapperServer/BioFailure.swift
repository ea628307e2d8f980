import MapperCore

/// A bio that ended with an error: the block I/O itself failed (502 in the API, as opposed to
/// an internal failure of the server).
struct BioFailure: Error {
    let errno: Errno
    let bioID: UInt64
}
