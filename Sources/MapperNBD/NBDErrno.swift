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
