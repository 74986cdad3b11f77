"""The paper's metrics: Fréchet distance (FAD), KLD and MCC."""
