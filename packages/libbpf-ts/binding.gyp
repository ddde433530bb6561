{
  "targets": [
    {
      "target_name": "lbts",
      "sources": [
        "src/native/addon.cc",
        "src/native/log.cc",
        "src/native/object.cc",
        "src/native/map.cc",
        "src/native/ringbuf.cc",
        "src/native/perf.cc",
        "src/native/probe.cc",
        "src/native/memory.cc",
        "src/native/sched.cc",
        "src/native/idle-guard.cc"
      ],
      "include_dirs": ["<!@(node -p \"require('node-addon-api').include\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers", "-Wno-unused-parameter"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
