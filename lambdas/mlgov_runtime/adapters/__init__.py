"""The only code that talks to AWS or HTTP. Keep imports light: Lambda cold start pays for them."""
