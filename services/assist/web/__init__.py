"""The desk page's templates, words and pure view building."""
