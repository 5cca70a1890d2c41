//! `nsh --dev`: placeholder until the dev cluster lands.
pub struct DevCluster;
impl DevCluster {
    pub fn start(_n: usize) -> anyhow::Result<Self> {
        anyhow::bail!("not available yet")
    }
    pub fn addr(&self) -> String {
        String::new()
    }
}
