{
  "targets": [
    {
      "target_name": "um",
      "sources": [
        "native/ring.c",
        "native/prep.c",
        "native/js_machine.c",
        "native/js_loop.c",
        "native/js_helpers.c",
        "native/js_constants.c",
        "native/tls.c",
        "native/js_tls.c",
        "native/addon.c"
      ],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-O2"],
      "cflags!": ["-fno-exceptions"],
      "conditions": [
        ["OS!='linux'", { "defines": ["UM_UNSUPPORTED_OS"] }],
        ["'<!(echo $UM_SANITIZE)'=='address'", {
          "cflags": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g", "-O1"],
          "ldflags": ["-fsanitize=address"]
        }]
      ]
    }
  ]
}
