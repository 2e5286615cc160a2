#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
fn main() {
    let dir = std::env::args().nth(1).unwrap();
    for _ in 0..300 {
        let t = std::time::Instant::now();
        let idx = wikic::index::Index::load(std::path::Path::new(&dir)).unwrap();
        let t1 = t.elapsed();
        let b = idx.body().unwrap();
        let t2 = t.elapsed();
        let _ = (t1, t2);
        std::mem::forget(b);
        std::mem::forget(idx);
    }
}
