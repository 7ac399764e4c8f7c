extension Duration {
    /// The duration in seconds, to the millisecond: for log metadata.
    var seconds: Double {
        let (whole, attoseconds) = components
        return ((Double(whole) + Double(attoseconds) * 1e-18) * 1000).rounded() / 1000
    }
}
