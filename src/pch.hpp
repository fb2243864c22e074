// Precompiled header for the library and its tests: the standard and Boost headers most
// translation units pull in. Never include this file directly.
#pragma once
#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
