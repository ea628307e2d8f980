import MapperCore
@main enum Bench { static func main() {} }
