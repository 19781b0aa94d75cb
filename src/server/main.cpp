int main() { return 0; }  // stub: to be written
