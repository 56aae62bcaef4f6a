// HearthStore: embedded state.
