extension Errno {
    /// dm-mpath's `blk_path_error()`: whether an I/O error says something about the path
    /// (fail it and retry the clone on another one) or about the request or the storage
    /// behind every path (give it to the bio and leave the path alone).
    ///
    /// Not path errors: no space (ENOSPC, EDQUOT), refused (EPERM, EROFS), a request the
    /// storage will not take (EINVAL, ENOTSUP). Every other error is a path error, EIO
    /// included, as are a lost or timed-out connection (ENOTCONN, ETIMEDOUT, ...).
    public var isPathError: Bool {
        switch self {
        case .ENOSPC, .EDQUOT, .EPERM, .EROFS, .EINVAL, .ENOTSUP: return false
        default: return true
        }
    }
}
