import MapperCore

/// The engine's errno as an NBD error, as nbdkit maps them (`server/protocol.c`,
/// `nbd_errno`): `EROFS` and `EPERM` → `EPERM`; `EIO` → `EIO`; `ENOMEM`; `ENOSPC`;
/// `ENOTSUP`; `ESHUTDOWN`; `EINVAL` and everything else the protocol has no number for →
/// `EINVAL`, except `ENODEV` (the device was removed under the connection) → `EIO`.
enum NBDErrno {
    static func code(_ errno: Errno) -> UInt32 {
        switch errno {
        case .EROFS, .EPERM: return NBD.EPERM
        case .EIO, .ENODEV: return NBD.EIO
        case .ENOMEM: return NBD.ENOMEM
        case .ENOSPC: return NBD.ENOSPC
        case .ENOTSUP: return NBD.ENOTSUP
        case .EINVAL: return NBD.EINVAL
        default: return errno.rawValue == 108 ? NBD.ESHUTDOWN : NBD.EINVAL
        }
    }
}

extension NBDErrno {
    /// An NBD error from a server as the engine's errno. `ESHUTDOWN` (the server is going
    /// away) is the path's fault, like a lost connection: ENOTCONN. Numbers the protocol does
    /// not define are EIO.
    static func errno(_ code: UInt32) -> Errno {
        switch code {
        case NBD.EPERM: return .EPERM
        case NBD.EIO: return .EIO
        case NBD.ENOMEM: return .ENOMEM
        case NBD.EINVAL, NBD.EOVERFLOW: return .EINVAL
        case NBD.ENOSPC: return .ENOSPC
        case NBD.ENOTSUP: return .ENOTSUP
        case NBD.ESHUTDOWN: return .ENOTCONN
        default: return .EIO
        }
    }
}
