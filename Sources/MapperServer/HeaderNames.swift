import HTTPTypes

/// Header names of the API that HTTPTypes does not predefine (statically known literals).
enum HeaderNames {
    static let bioID = HTTPField.Name("Bio-Id")!
    static let prefer = HTTPField.Name("Prefer")!
    static let preferenceApplied = HTTPField.Name("Preference-Applied")!
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
