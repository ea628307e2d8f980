public enum MapperTestSupportMarker {}
