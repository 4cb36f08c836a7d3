fn main() {
    print!("{}", operator::crd_yaml::render_all());
}
