/// The version of mapperd.
public enum MapperdVersion {
    public static let string = "0.1.0"
}
